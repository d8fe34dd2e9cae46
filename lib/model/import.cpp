// Importing checkpoints of the original K-BERT / UER and of Hugging Face into kbert model directories.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kbert/common/error.hpp"
#include "kbert/common/output_dir.hpp"
#include "kbert/model/model.hpp"
#include "kbert/tokenizer/wordpiece_tokenizer.hpp"
#include "model/model_spec.hpp"
#include "encoder/checkpoint.hpp"
#include "model/model_impl.hpp"
#include "encoder/tensor_io.hpp"

namespace kbert {

namespace {

std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FileError(path, "cannot open labels file");
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) labels.push_back(line);
  }
  return labels;
}

std::vector<std::string> number_labels(std::int64_t n) {
  std::vector<std::string> out;
  for (std::int64_t i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace

void import_uer(const ImportUerOptions& o) {
  KBERT_CHECK(!o.checkpoint.empty() && !o.config.empty() && !o.vocab.empty() && !o.out.empty(),
              "import-uer needs --checkpoint, --config, --vocab and --out");
  const OutputDir out(o.out);
  KBERT_CHECK(o.tokenizer == "char", "import-uer supports --tokenizer char (K-BERT's mode), got ", o.tokenizer);
  const Vocab vocab = Vocab::from_file(o.vocab, VocabStyle::kUer);
  TensorList tensors = read_checkpoint(o.checkpoint);
  if (detect_format(tensors) != CheckpointFormat::kUer)
    throw ParseError(o.checkpoint, 0, "no UER / K-BERT tensor names (embedding.*, encoder.transformer.*) in this file");
  const HeadInFile head = find_head(tensors, CheckpointFormat::kUer);
  if (head.kind != HeadKind::kKbert && head.kind != HeadKind::kTagger)
    throw ParseError(o.checkpoint, 0,
                     "neither output_layer_2.weight nor output_layer.weight: not a model saved by K-BERT's "
                     "run_kbert_cls.py or run_kbert_ner.py");
  if (head.kind == HeadKind::kTagger && o.labels_file.empty())
    throw std::invalid_argument(o.checkpoint + " is a tagger (output_layer.weight): --labels-file must name its " +
                                std::to_string(head.labels) + " labels in run_kbert_ner.py's labels_map order");
  BertConfig config = BertConfig::from_uer_json(o.config, static_cast<std::int64_t>(vocab.size()));
  check_config_against(config, tensors, o.checkpoint);
  for (const auto& [name, t] : tensors)
    if (name == "embedding.word_embedding.weight" && t.dim() == 2 && t.size(0) != config.vocab_size)
      throw ParseError(o.checkpoint, 0, "embedding.word_embedding.weight has " + std::to_string(t.size(0)) +
                                            " rows but the vocabulary " + o.vocab + " has " + std::to_string(config.vocab_size) + " tokens");
  ModelSpec spec;
  spec.tokenizer.kind = "char";
  spec.tree.max_entities = o.max_entities;
  spec.tree.max_length = o.max_length;
  spec.tree.predicate = o.predicate;
  spec.tree.add_special = true;
  spec.segments = SegmentConvention::kUer;
  spec.head = head.kind;
  spec.pooling = o.pooling;
  // K-BERT pools over the padded sequence
  spec.pad_to_max_length = head.kind == HeadKind::kKbert && o.pooling != Pooling::kFirst;
  spec.labels = o.labels_file.empty() ? number_labels(head.labels) : read_labels(o.labels_file);
  if (static_cast<std::int64_t>(spec.labels.size()) != head.labels)
    throw ParseError(o.labels_file, 0, std::to_string(spec.labels.size()) + " labels but " +
                                           (head.kind == HeadKind::kTagger ? "output_layer" : "output_layer_2") + " has " +
                                           std::to_string(head.labels) + " rows");
  RunOptions run;
  run.kg = o.kg_files.empty() ? std::optional<std::string>("none") : std::nullopt;
  spec.kg_files = o.kg_files;
  Model m = Model::create(config, spec, o.vocab, run);
  load_weights(m.impl_->net, tensors, o.checkpoint);
  out.replace([&](const std::string& tmp) { m.impl_->write_files(tmp); });
}

void import_hf(const ImportHfOptions& o) {
  KBERT_CHECK(!o.from.empty() && !o.out.empty(), "import-hf needs --from and --out");
  const OutputDir out(o.out);
  BertConfig config = BertConfig::from_hf_json(o.from + "/config.json");
  std::string weights = o.from + "/model.safetensors";
  if (!std::filesystem::exists(weights)) weights = o.from + "/pytorch_model.bin";
  if (!std::filesystem::exists(weights)) throw FileError(o.from, "neither model.safetensors nor pytorch_model.bin in this directory");
  TensorList tensors = read_checkpoint(weights);
  check_config_against(config, tensors, weights);
  const HeadInFile head = find_head(tensors, CheckpointFormat::kHuggingFace);
  ModelSpec spec;
  auto wp = WordPieceTokenizer::from_files(o.from + "/vocab.txt");
  spec.tokenizer.kind = "wordpiece";
  spec.tokenizer.lower_case = wp->options().lower_case;
  spec.tokenizer.strip_accents = wp->options().strip_accents;
  spec.tokenizer.tokenize_chinese_chars = wp->options().tokenize_chinese_chars;
  spec.tree = o.tree;
  spec.tree.add_special = true;
  // Trees never longer than the model's position table.
  spec.tree.max_length = std::min<std::size_t>(spec.tree.max_length, static_cast<std::size_t>(config.max_position));
  spec.segments = SegmentConvention::kHuggingFace;
  spec.kg_files = o.kg_files;
  bool new_head = false;
  // BertForTokenClassification keeps its head in classifier.* too: config.json says which.
  std::vector<std::string> id2label;
  bool token_classification = false;
  {
    std::ifstream in(o.from + "/config.json");
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("architectures") && j["architectures"].is_array())
      for (const auto& a : j["architectures"])
        if (a.is_string() && a.get<std::string>() == "BertForTokenClassification") token_classification = true;
    if (j.is_object() && j.contains("id2label") && j["id2label"].is_object()) {
      id2label.assign(j["id2label"].size(), "");
      for (const auto& [k, v] : j["id2label"].items()) {
        const std::size_t i = std::strtoul(k.c_str(), nullptr, 10);
        if (i < id2label.size() && v.is_string()) id2label[i] = v.get<std::string>();
      }
    }
  }
  if (head.kind == HeadKind::kHf) {
    spec.head = token_classification ? HeadKind::kTagger : HeadKind::kHf;
    spec.labels = !o.labels_file.empty() ? read_labels(o.labels_file)
                  : token_classification && static_cast<std::int64_t>(id2label.size()) == head.labels ? id2label
                                                                                                       : number_labels(head.labels);
    if (static_cast<std::int64_t>(spec.labels.size()) != head.labels)
      throw ParseError(o.labels_file, 0, std::to_string(spec.labels.size()) + " labels but classifier.weight has " +
                                             std::to_string(head.labels) + " rows");
  } else if (!o.labels_file.empty()) {
    spec.head = HeadKind::kHf;  // a new classifier to fine-tune
    spec.labels = read_labels(o.labels_file);
    new_head = true;
  }
  RunOptions run;
  run.kg = o.kg_files.empty() ? std::optional<std::string>("none") : std::nullopt;
  Model m = Model::create(config, spec, o.from + "/vocab.txt", run);
  if (spec.head == HeadKind::kNone || spec.head == HeadKind::kTagger) {
    // Encoder only or a tagger: the pooler, if any, is not used.
    TensorList kept;
    for (auto& [n, t] : tensors)
      if (n.find("pooler.") == std::string::npos) kept.emplace_back(n, t);
    tensors.swap(kept);
  }
  load_weights(m.impl_->net, tensors, weights, new_head);
  out.replace([&](const std::string& tmp) { m.impl_->write_files(tmp); });
}

}  // namespace kbert
