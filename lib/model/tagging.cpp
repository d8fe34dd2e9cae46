// Token classification: the units a tagger tags in raw text, tags per token and entity spans.
#include <string>
#include <vector>

#include "kbert/model/model.hpp"
#include "kbert/text/unicode.hpp"
#include "kbert/text/utf8.hpp"
#include "kbert/train/ner.hpp"
#include "model/run_batches.hpp"

namespace kbert {

namespace {

bool is_tag_label(const std::string& l) {
  return l == "O" || (l.size() > 2 && (l[0] == 'B' || l[0] == 'I') && l[1] == '-');
}

// The units a tagger tags in a raw text: every non-space code point (char models), or
// words, with each punctuation mark and CJK character a unit of its own (the others).
struct Unit {
  std::u32string text;
  std::size_t start = 0;
};
std::vector<Unit> split_units(const std::u32string& cps, bool word_level) {
  std::vector<Unit> out;
  Unit cur;
  auto flush = [&] {
    if (!cur.text.empty()) out.push_back(cur);
    cur.text.clear();
  };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const char32_t c = cps[i];
    if (unicode::is_python_space(c) || unicode::is_bert_whitespace(c)) {
      flush();
    } else if (!word_level || unicode::is_bert_punctuation(c) || unicode::is_cjk(c)) {
      flush();
      out.push_back({std::u32string(1, c), i});
    } else {
      if (cur.text.empty()) cur.start = i;
      cur.text.push_back(c);
    }
  }
  flush();
  return out;
}

}  // namespace

std::vector<Model::Impl::Tagged> Model::Impl::tag_sentences(const std::vector<std::vector<std::string>>& sentences) const {
  KBERT_CHECK(spec.head == HeadKind::kTagger, "this model has no token-classification head (kbert.json head is ",
              spec.head == HeadKind::kNone ? "none" : "a sentence classifier", ")");
  const bool word_level = tokenizer->kind() != "char";
  std::vector<std::string> texts;
  texts.reserve(sentences.size());
  for (const auto& s : sentences) texts.push_back(join_tokens(s, word_level));
  std::vector<std::size_t> allowed;  // labels a trunk token may get: O, B-X, I-X (never [ENT] or [PAD])
  for (std::size_t l = 0; l < spec.labels.size(); ++l)
    if (is_tag_label(spec.labels[l])) allowed.push_back(l);
  KBERT_CHECK(!allowed.empty(), "the tagger's labels have no O, B-X or I-X tag");
  std::vector<Tagged> out(sentences.size());
  run_batches(texts, {}, [&](const Batch&, const torch::Tensor&, const torch::Tensor& logits,
                             const std::vector<std::size_t>& idx, std::vector<SentenceTree>& trees,
                             const std::vector<std::size_t>& order, std::size_t k, std::size_t) {
    const torch::Tensor probs = at::softmax(logits, -1).contiguous();
    const auto L = probs.size(1), C = probs.size(2);
    for (std::size_t r = 0; r < idx.size(); ++r) {
      SentenceTree& tree = trees[order[k + r]];
      TaggedSentence sentence;
      sentence.tokens = sentences[idx[r]];
      TreeTokenSource src;
      try {
        src = align_tree(tree, sentence, *tokenizer);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("sentence " + std::to_string(idx[r] + 1) + ": " + e.what());
      }
      Tagged& t = out[idx[r]];
      t.tags.assign(sentence.tokens.size(), "O");
      t.probs.assign(sentence.tokens.size(), 0.f);
      const float* p = probs.data_ptr<float>() + static_cast<std::int64_t>(r) * L * C;
      for (std::size_t i = 0; i < tree.size(); ++i) {
        if (src.token[i] < 0 || !src.first[i]) continue;
        const float* row = p + static_cast<std::int64_t>(i) * C;
        std::size_t best = allowed.front();
        for (std::size_t l : allowed)
          if (row[l] > row[best]) best = l;
        t.tags[static_cast<std::size_t>(src.token[i])] = spec.labels[best];
        t.probs[static_cast<std::size_t>(src.token[i])] = row[best];
      }
      t.injected = std::move(tree.injected);
    }
  });
  return out;
}

bool Model::is_tagger() const { return impl_->spec.head == HeadKind::kTagger; }

std::vector<std::vector<std::string>> Model::tag_tokens(const std::vector<std::vector<std::string>>& sentences) const {
  std::vector<Impl::Tagged> tagged = impl_->tag_sentences(sentences);
  std::vector<std::vector<std::string>> out;
  out.reserve(tagged.size());
  for (auto& t : tagged) out.push_back(std::move(t.tags));
  return out;
}

std::vector<TagResult> Model::tag(const std::vector<std::string>& texts) const {
  const Impl& im = *impl_;
  const bool word_level = im.tokenizer->kind() != "char";
  std::vector<std::u32string> cps;
  std::vector<std::vector<Unit>> units;
  std::vector<std::vector<std::string>> sentences;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    cps.push_back(decode_utf8(texts[i], "text " + std::to_string(i + 1)));
    units.push_back(split_units(cps.back(), word_level));
    std::vector<std::string> tokens;
    for (const auto& u : units.back()) tokens.push_back(encode_utf8(u.text));
    sentences.push_back(std::move(tokens));
  }
  std::vector<Impl::Tagged> tagged = im.tag_sentences(sentences);
  std::vector<TagResult> out(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    TagResult& r = out[i];
    r.tokens = std::move(sentences[i]);
    r.tags = std::move(tagged[i].tags);
    r.injected = std::move(tagged[i].injected);
    for (const auto& u : units[i]) r.starts.push_back(u.start);
    for (const EntitySpan& span : bio_entities(r.tags)) {
      TaggedEntity e;
      e.type = span.type;
      e.start = units[i][span.begin].start;
      const Unit& last = units[i][span.end - 1];
      e.end = last.start + last.text.size();
      e.text = encode_utf8(std::u32string_view(cps[i]).substr(e.start, e.end - e.start));
      float sum = 0;
      for (std::size_t k = span.begin; k < span.end; ++k) sum += tagged[i].probs[k];
      e.score = sum / static_cast<float>(span.end - span.begin);
      r.entities.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace kbert
