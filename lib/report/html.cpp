#include "kbert/report/report.hpp"

#include <nlohmann/json.hpp>

#include "kbert/common/atomic_file.hpp"

namespace kbert::report {
namespace {

// Text for an HTML element or attribute.
std::string escape_html(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON that can sit inside <script type="application/json">: '<', '>' and '&' only occur
// inside JSON strings, where \u escapes mean the same characters, so no "</script>" or
// "<!--" in the data can end the element early.
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<')
      out += "\\u003c";
    else if (c == '>')
      out += "\\u003e";
    else if (c == '&')
      out += "\\u0026";
    else
      out += c;
  }
  return out;
}

nlohmann::json metrics_json(const ClassificationReport& r) {
  nlohmann::json classes = nlohmann::json::array();
  for (const ClassMetrics& c : r.classes)
    classes.push_back({{"label", c.label}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1},
                       {"support", c.support}});
  return {{"examples", r.examples}, {"accuracy", r.accuracy},   {"macro_precision", r.macro_precision},
          {"macro_recall", r.macro_recall}, {"macro_f1", r.macro_f1}, {"classes", classes},
          {"confusion", r.confusion}};
}

const char* kPage = R"PAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #23344f; color: #fff; padding: 14px 24px; }
header h1 { font-size: 20px; margin: 0 0 4px; }
header dl { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; font-size: 12px; opacity: .85; }
header dt { font-weight: 600; } header dd { margin: 0 0 0 4px; }
header dl div { display: flex; }
main { padding: 16px 24px; }
section { background: #fff; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.08); padding: 14px 18px; margin-bottom: 16px; }
h2 { font-size: 16px; margin: 0 0 10px; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics td, table.metrics th { padding: 3px 10px; border-bottom: 1px solid #e4e7ec; text-align: right; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 10px; }
.controls select, .controls input, .controls button { font: inherit; padding: 3px 6px; }
.card { border: 1px solid #e4e7ec; border-radius: 6px; padding: 10px 12px; margin-bottom: 10px; }
.card.wrong { border-left: 4px solid #c8553d; } .card.right { border-left: 4px solid #3d8c5a; }
.card .head { display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 13px; margin-bottom: 6px; }
.tag { border-radius: 3px; padding: 0 6px; background: #eef1f6; }
.narrative { white-space: pre-wrap; margin: 6px 0; }
mark { background: #ffe08a; padding: 0 1px; border-radius: 2px; }
table.facts { border-collapse: collapse; width: 100%; font-size: 13px; }
table.facts td { padding: 2px 6px; border-top: 1px solid #f0f1f4; vertical-align: middle; }
table.facts td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.similar { font-size: 13px; margin-top: 6px; } .similar li { margin-bottom: 3px; }
.muted { color: #667085; }
</style>
</head>
<body data-status="loading">
<header><h1>@TITLE@</h1><dl id="about"></dl></header>
<main>
<section><h2>Metrics</h2><div class="row"><table class="metrics" id="metrics"></table></div></section>
<section><div class="row">
<div><h2>Confusion matrix (rows: gold, columns: predicted)</h2><div id="confusion-box"></div></div>
<div><h2>F1 per class</h2><div id="f1-box"></div></div>
</div></section>
<section><h2>Reports</h2>
<div class="controls">
<label>gold <select id="f-gold"></select></label>
<label>predicted <select id="f-pred"></select></label>
<label><input type="checkbox" id="f-wrong"> only wrong</label>
<label>text <input type="search" id="f-text" placeholder="contains"></label>
<span id="count" class="muted"></span>
<button id="prev">previous</button><button id="next">next</button>
</div>
<div id="items"></div>
</section>
</main>
<script type="application/json" id="report-data">@DATA@</script>
<script>
"use strict";
window.addEventListener("error", function (e) {
  document.body.setAttribute("data-status", "error");
  document.body.setAttribute("data-error", String(e.message));
});
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(x, d) { return Number(x).toFixed(d === undefined ? 3 : d); }

  var about = document.getElementById("about");
  D.about.forEach(function (a) {
    var d = el("div"); d.appendChild(el("dt", {}, a[0])); d.appendChild(el("dd", {}, a[1])); about.appendChild(d);
  });

  // Metrics table (the baseline beside the model when given).
  var m = document.getElementById("metrics");
  var hr = el("tr"); hr.appendChild(el("th", {}, ""));
  hr.appendChild(el("th", {}, D.model_name));
  if (D.baseline) hr.appendChild(el("th", {}, D.baseline_name));
  m.appendChild(hr);
  [["examples", "examples", 0], ["accuracy", "accuracy", 3], ["macro-F1", "macro_f1", 3],
   ["macro precision", "macro_precision", 3], ["macro recall", "macro_recall", 3]].forEach(function (r) {
    var tr = el("tr"); tr.appendChild(el("td", {}, r[0]));
    tr.appendChild(el("td", {}, fmt(D.metrics[r[1]], r[2])));
    if (D.baseline) tr.appendChild(el("td", {}, fmt(D.baseline[r[1]], r[2])));
    m.appendChild(tr);
  });

  // Confusion matrix heat map.
  var labels = D.metrics.classes.map(function (c) { return c.label; });
  var n = labels.length, cell = Math.max(26, Math.min(46, Math.floor(460 / Math.max(n, 1))));
  var longest = 0;
  labels.forEach(function (l) { longest = Math.max(longest, l.length); });
  var left = Math.min(230, 14 + 6.5 * longest), top = Math.min(170, 14 + 5.5 * longest);
  var W = left + n * cell + 10 + Math.ceil(4.5 * longest), H = top + n * cell + 10;  // rotated labels lean right
  var cm = svg("svg", {id: "confusion", width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"});
  var maxc = 1;
  D.metrics.confusion.forEach(function (row) { row.forEach(function (v) { if (v > maxc) maxc = v; }); });
  for (var i = 0; i < n; ++i) {
    cm.appendChild(svg("text", {x: left - 6, y: top + i * cell + cell / 2 + 4, "text-anchor": "end"}, labels[i]));
    cm.appendChild(svg("text", {transform: "translate(" + (left + i * cell + cell / 2 + 4) + "," + (top - 6) + ") rotate(-55)"},
                       labels[i]));
    for (var j = 0; j < n; ++j) {
      var v = D.metrics.confusion[i][j], t = v / maxc;
      var fill = i === j ? "rgba(61,140,90," + (0.12 + 0.88 * t) + ")" : "rgba(200,85,61," + (v ? 0.15 + 0.85 * t : 0.03) + ")";
      var r = svg("rect", {x: left + j * cell, y: top + i * cell, width: cell - 2, height: cell - 2, fill: fill,
                           "class": "cm-cell", "data-gold": labels[i], "data-pred": labels[j]});
      r.appendChild(svg("title", {}, labels[i] + " -> " + labels[j] + ": " + v));
      r.addEventListener("click", (function (g, p) { return function () { setFilter(g, p); }; })(labels[i], labels[j]));
      cm.appendChild(r);
      cm.appendChild(svg("text", {x: left + j * cell + cell / 2 - 1, y: top + i * cell + cell / 2 + 3, "text-anchor": "middle",
                                  "pointer-events": "none"}, String(v)));
    }
  }
  document.getElementById("confusion-box").appendChild(cm);

  // F1 bars per class.
  var barW = 260, rowH = D.baseline ? 30 : 20, fl = Math.min(250, 40 + 6.5 * longest);
  var fh = 20 + n * rowH, fw = fl + barW + 60;
  var f1 = svg("svg", {id: "f1-bars", width: fw, height: fh, viewBox: "0 0 " + fw + " " + fh, role: "img"});
  D.metrics.classes.forEach(function (c, k) {
    var y = 10 + k * rowH;
    f1.appendChild(svg("text", {x: fl - 6, y: y + 12, "text-anchor": "end"}, c.label + " (" + c.support + ")"));
    f1.appendChild(svg("rect", {x: fl, y: y + 2, width: Math.max(1, barW * c.f1), height: 12, fill: "#3d6fb4", "class": "f1-bar"}));
    f1.appendChild(svg("text", {x: fl + barW * c.f1 + 4, y: y + 12}, fmt(c.f1, 2)));
    if (D.baseline) {
      var b = D.baseline.classes[k].f1;
      f1.appendChild(svg("rect", {x: fl, y: y + 15, width: Math.max(1, barW * b), height: 9, fill: "#b8c2d1", "class": "f1-bar-baseline"}));
      f1.appendChild(svg("text", {x: fl + barW * b + 4, y: y + 24, "class": "muted"}, fmt(b, 2)));
    }
  });
  var legend = el("div", {"class": "muted", style: "max-width: " + fw + "px"},
                  D.baseline ? "dark: " + D.model_name + "; light: " + D.baseline_name : "");
  document.getElementById("f1-box").appendChild(f1);
  document.getElementById("f1-box").appendChild(legend);

  // Reports: filters and pages.
  var fg = document.getElementById("f-gold"), fp = document.getElementById("f-pred");
  [fg, fp].forEach(function (s) {
    s.appendChild(el("option", {value: ""}, "any"));
    labels.forEach(function (l) { s.appendChild(el("option", {value: l}, l)); });
  });
  var page = 0, per = 20, shown = [];
  function setFilter(g, p) { fg.value = g; fp.value = p; page = 0; render(); }
  function marked(text, facts) {
    // The narrative with every fact's entity mention marked (case-insensitive), as text nodes.
    var box = el("div", {"class": "narrative"});
    var low = text.toLowerCase(), spans = [];
    facts.forEach(function (f) {
      var e = f.entity.toLowerCase();
      if (!e) return;
      for (var at = low.indexOf(e); at >= 0; at = low.indexOf(e, at + e.length)) spans.push([at, at + e.length]);
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var pos = 0;
    spans.forEach(function (s) {
      if (s[0] < pos) return;
      box.appendChild(document.createTextNode(text.slice(pos, s[0])));
      box.appendChild(el("mark", {}, text.slice(s[0], s[1])));
      pos = s[1];
    });
    box.appendChild(document.createTextNode(text.slice(pos)));
    return box;
  }
  function card(it, idx) {
    var c = el("div", {"class": "card " + (it.gold === it.predicted ? "right" : "wrong")});
    var h = el("div", {"class": "head"});
    h.appendChild(el("span", {"class": "muted"}, "#" + (idx + 1)));
    h.appendChild(el("span", {}, "gold: ")).appendChild(el("b", {"class": "tag"}, it.gold));
    h.appendChild(el("span", {}, "predicted: ")).appendChild(el("b", {"class": "tag"}, it.predicted + " " + fmt(it.probability, 2)));
    if (it.baseline_predicted) h.appendChild(el("span", {"class": "muted"}, D.baseline_name + ": " + it.baseline_predicted));
    c.appendChild(h);
    c.appendChild(marked(it.text, it.facts));
    if (it.facts.length) {
      var t = el("table", {"class": "facts"});
      var maxa = 0.02;
      it.facts.forEach(function (f) { maxa = Math.max(maxa, Math.abs(f.change)); });
      it.facts.forEach(function (f) {
        var tr = el("tr");
        tr.appendChild(el("td", {}, f.entity + "  " + f.relation + "  " + f.object));
        var bar = el("td");
        var s = svg("svg", {width: 162, height: 12, "class": "fact-bar"});
        var w = 80 * Math.abs(f.change) / maxa;
        // change < 0: the fact supported the prediction (bar to the right, green); > 0: against it (left, red).
        s.appendChild(svg("line", {x1: 81, x2: 81, y1: 0, y2: 12, stroke: "#98a2b3"}));
        s.appendChild(svg("rect", {x: f.change < 0 ? 81 : 81 - w, y: 2, width: Math.max(w, 0.5), height: 8,
                                   fill: f.change < 0 ? "#3d8c5a" : "#c8553d"}));
        bar.appendChild(s);
        tr.appendChild(bar);
        tr.appendChild(el("td", {"class": "num", title: "probability of the prediction with the fact minus without it"},
                          (f.change <= 0 ? "+" : "-") + fmt(Math.abs(f.change), 3)));
        if (f.gate >= 0) tr.appendChild(el("td", {"class": "num muted"}, "gate " + fmt(f.gate, 2)));
        t.appendChild(tr);
      });
      c.appendChild(t);
    } else {
      c.appendChild(el("div", {"class": "muted"}, "no injected facts"));
    }
    if (it.similar.length) {
      c.appendChild(el("div", {"class": "muted"}, "most similar indexed reports:"));
      var ul = el("ul", {"class": "similar"});
      it.similar.forEach(function (s) {
        var li = el("li", {title: s.text});  // the whole text on hover; the first 300 characters shown
        li.appendChild(el("b", {}, s.label ? s.label : "(no label)"));
        var short = s.text.length > 300 ? s.text.slice(0, 300) + "\u2026" : s.text;
        li.appendChild(document.createTextNode(" " + fmt(s.score, 2) + "  " + short));
        ul.appendChild(li);
      });
      c.appendChild(ul);
    }
    return c;
  }
  function render() {
    var g = fg.value, p = fp.value, wrong = document.getElementById("f-wrong").checked;
    var q = document.getElementById("f-text").value.toLowerCase();
    shown = [];
    D.items.forEach(function (it, i) {
      if ((g && it.gold !== g) || (p && it.predicted !== p) || (wrong && it.gold === it.predicted)) return;
      if (q && it.text.toLowerCase().indexOf(q) < 0) return;
      shown.push(i);
    });
    var pages = Math.max(1, Math.ceil(shown.length / per));
    if (page >= pages) page = pages - 1;
    var box = document.getElementById("items");
    while (box.firstChild) box.removeChild(box.firstChild);
    shown.slice(page * per, page * per + per).forEach(function (i) { box.appendChild(card(D.items[i], i)); });
    document.getElementById("count").textContent = shown.length + " of " + D.items.length + " reports, page " +
        (page + 1) + " of " + pages;
  }
  [fg, fp, document.getElementById("f-wrong"), document.getElementById("f-text")].forEach(function (x) {
    x.addEventListener("input", function () { page = 0; render(); });
  });
  document.getElementById("prev").addEventListener("click", function () { if (page > 0) { --page; render(); } });
  document.getElementById("next").addEventListener("click", function () { ++page; render(); });
  render();
  if (document.body.getAttribute("data-status") === "loading") document.body.setAttribute("data-status", "ok");
})();
</script>
</body>
</html>
)PAGE";

}  // namespace

std::string render_html(const Data& data) {
  nlohmann::json items = nlohmann::json::array();
  for (const Item& it : data.items) {
    nlohmann::json facts = nlohmann::json::array(), similar = nlohmann::json::array();
    for (const Fact& f : it.facts)
      facts.push_back({{"entity", f.entity}, {"relation", f.relation}, {"object", f.object}, {"change", f.change},
                       {"gate", f.gate}});
    for (const Neighbour& s : it.similar)
      similar.push_back({{"id", s.id}, {"label", s.label}, {"text", s.text}, {"score", s.score}});
    items.push_back({{"text", it.text}, {"gold", it.gold}, {"predicted", it.predicted}, {"probability", it.probability},
                     {"baseline_predicted", it.baseline_predicted}, {"facts", facts}, {"similar", similar}});
  }
  nlohmann::json about = nlohmann::json::array();
  for (const auto& [k, v] : data.about) about.push_back({k, v});
  nlohmann::json j = {{"about", about},       {"metrics", metrics_json(data.metrics)}, {"model_name", data.model_name},
                      {"baseline", nullptr},  {"baseline_name", data.baseline_name},   {"items", items}};
  if (data.baseline) j["baseline"] = metrics_json(*data.baseline);
  // Invalid UTF-8 in the data becomes U+FFFD rather than an exception mid-report.
  const std::string json = script_safe(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  // One pass over the template: what the data holds is never searched for markers.
  const std::string title = escape_html(data.title), tmpl = kPage;
  std::string page;
  for (std::size_t at = 0; at < tmpl.size();) {
    const std::size_t next = tmpl.find('@', at);
    if (next == std::string::npos) {
      page.append(tmpl, at, std::string::npos);
      break;
    }
    page.append(tmpl, at, next - at);
    if (tmpl.compare(next, 7, "@TITLE@") == 0) {
      page += title;
      at = next + 7;
    } else if (tmpl.compare(next, 6, "@DATA@") == 0) {
      page += json;
      at = next + 6;
    } else {
      page += '@';
      at = next + 1;
    }
  }
  return page;
}

void write_html(const std::string& path, const Data& data) {
  const std::string page = render_html(data);
  write_file_atomically(path, [&](std::ostream& os) { os << page; });
}

}  // namespace kbert::report
