// The HTML report's page (kbert/report/report.hpp) from plain data: what the data holds is
// data, never markup; the page is whole. (The page in a browser: tests/report/check_report.py.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kbert/report/report.hpp"

using namespace kbert;

TEST_CASE("report: data strings never become markup, markers in the data are not filled", "[report]") {
  report::Data d;
  d.title = "Faults <b>&</b> \"causes\" @DATA@";
  d.about = {{"model", "</script><script>alert(1)</script>"}};
  d.metrics = ClassificationReport::compute({0, 1, 1}, {0, 1, 0}, {"a<", "b&"});
  report::Item it;
  it.text = "pump <script>alert('x')</script> </script><!-- @TITLE@ \xE2\x80\xA8 end";
  it.gold = "a<";
  it.predicted = "b&";
  it.probability = 0.75;
  it.facts.push_back({"pump", "is a", "<i>machine</i>", -0.1, 0.5});
  it.similar.push_back({"7", "a<", "a similar <b>text</b>", 0.9});
  d.items.push_back(it);
  d.items.push_back(report::Item{"bad utf-8 \xff\xfe", "a<", "a<", 0.5, "", {}, {}});
  const std::string page = report::render_html(d);

  CHECK(page.find("<title>Faults &lt;b&gt;&amp;&lt;/b&gt; &quot;causes&quot; @DATA@</title>") != std::string::npos);
  // The data sits in one JSON element; nothing in it can close that element or open a comment.
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const std::size_t a = page.find(open);
  REQUIRE(a != std::string::npos);
  const std::size_t b = page.find("</script>", a);
  REQUIRE(b != std::string::npos);
  const std::string json = page.substr(a + open.size(), b - a - open.size());
  CHECK(json.find('<') == std::string::npos);
  CHECK(json.find('>') == std::string::npos);
  CHECK(json.find('&') == std::string::npos);
  CHECK(json.find("\\u003cscript\\u003ealert('x')\\u003c/script\\u003e") != std::string::npos);
  CHECK(json.find("@TITLE@") != std::string::npos);    // the data's own text, not a marker filled
  CHECK(json.find("\xEF\xBF\xBD") != std::string::npos);  // invalid UTF-8 replaced (U+FFFD), not an exception
  CHECK(page.find("alert(1)") == page.rfind("alert(1)"));  // once: inside the JSON only
  CHECK(page.find("<script>alert") == std::string::npos);
  CHECK(page.rfind("</html>") != std::string::npos);
  CHECK(page.find("@DATA@") != std::string::npos);  // the title's text, escaped, not the marker
  CHECK(page.find("@TITLE@", b) == std::string::npos);

  const auto path = std::filesystem::temp_directory_path() / "kbert_test_report.html";
  report::write_html(path.string(), d);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  CHECK(s.str() == page);
  std::filesystem::remove(path);
}
