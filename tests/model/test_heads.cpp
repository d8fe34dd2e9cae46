// The head interface (lib/encoder/head.hpp), from outside the library: a regression head is
// this one file (its module, its kind with its own loss and evaluation, one registration
// line) plus one line in tests/CMakeLists.txt. It trains through kbert::train_classifier,
// saves and loads like the built-in heads.
// LibTorch brings glog, whose CHECK would silently replace Catch's: prefixed macros only.
#define CATCH_CONFIG_PREFIX_ALL
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "encoder/head.hpp"
#include "kbert/common/error.hpp"
#include "kbert/model/model.hpp"
#include "kbert/train/data.hpp"
#include "kbert/train/trainer.hpp"
#include "test_helpers.hpp"

using namespace kbert;
namespace fs = std::filesystem;

namespace {

// One number per text: tanh(dense(mean of the hidden states)), then a linear output.
class RegressionHeadImpl : public nn::HeadImpl {
 public:
  explicit RegressionHeadImpl(const nn::HeadShape& s) {
    dense = register_module("dense", nn::Linear(s.hidden, s.hidden));
    out = register_module("out", nn::Linear(s.hidden, 1));
  }
  torch::Tensor outputs(const torch::Tensor& hidden) override { return out(at::tanh(dense(hidden.mean(1)))); }
  nn::Linear dense{nullptr};
};

double value_of(const Example& e, const std::string& path) {
  std::istringstream in(e.label);
  double v = 0;
  if (!(in >> v) || !in.eof() || !std::isfinite(v))
    throw ParseError(path, e.line, "a regression label must be a number, got '" + e.label + "'");
  return v;
}

HeadType regression_head() {
  HeadType t;
  t.name = "test_regression";
  t.make = [](const nn::HeadShape& s) { return std::make_shared<RegressionHeadImpl>(s); };
  t.file_names = [](bool) {
    return std::vector<std::pair<std::string, std::string>>{{"dense", "regression.dense"}, {"out", "regression.out"}};
  };
  t.loss = [](const torch::Tensor& outputs, const std::vector<const Example*>& batch, const std::string& path) {
    std::vector<float> y;
    for (const Example* e : batch) y.push_back(static_cast<float>(value_of(*e, path)));
    return HeadLoss{torch::mse_loss(outputs.squeeze(1), torch::tensor(y)), static_cast<double>(y.size())};
  };
  t.evaluate = [](const Model& model, const Dataset& data) {
    std::vector<std::string> texts;
    for (const auto& e : data.examples) texts.push_back(e.text_a);
    const std::vector<Prediction> p = model.predict(texts);
    double se = 0;
    for (std::size_t i = 0; i < p.size(); ++i) se += std::pow(p[i].logits[0] - value_of(data.examples[i], data.path), 2);
    const double rmse = std::sqrt(se / static_cast<double>(p.size()));
    return std::pair<double, std::string>{-rmse, nlohmann::json{{"rmse", rmse}, {"examples", p.size()}}.dump()};
  };
  return t;
}

const HeadRegistration kRegression(regression_head());  // the one registration line

// Texts whose value is the number of 好 in them.
std::string data_file(const std::string& dir, const std::string& name, int copies) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"0", "房间干净"}, {"1", "服务好"}, {"2", "很好很好"}, {"3", "好好好"}, {"0", "价格贵"}, {"2", "好的房间好"}};
  const std::string path = dir + "/" + name;
  std::ofstream out(path);
  out << "label\ttext_a\n";
  for (int c = 0; c < copies; ++c)
    for (const auto& [v, t] : rows) out << v << "\t" << t << "\n";
  return path;
}

struct TempDir {
  std::string path = "/tmp/kbert-heads-" + std::to_string(::getpid());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

Model new_regression_model(const std::string& dir) {
  const std::string config = dir + "/config.json";
  std::ofstream(config) << R"({"emb_size": 16, "feedforward_size": 32, "hidden_size": 16, "heads_num": 2,
                              "layers_num": 1, "dropout": 0.0})";
  ModelSpec spec;
  spec.tokenizer.kind = "char";
  spec.segments = SegmentConvention::kUer;
  spec.head = HeadKind("test_regression");
  spec.labels = {"value"};
  set_random_seed(3);
  return Model::create(config, spec, std::string(KBERT_DATA_DIR) + "/kbert/google_vocab.txt");
}

}  // namespace

CATCH_TEST_CASE("A registered regression head trains with its own loss, saves and loads", "[heads]") {
  TempDir tmp;
  const Dataset train = Dataset::load(data_file(tmp.path, "train.tsv", 8));
  const Dataset dev = Dataset::load(data_file(tmp.path, "dev.tsv", 1));
  Model model = new_regression_model(tmp.path);
  const double before = -head_type(HeadKind("test_regression")).evaluate(model, dev).first;
  TrainOptions o;
  o.epochs = 30;
  o.batch_size = 8;
  o.learning_rate = 3e-3;
  o.warmup = 0;
  o.progress = false;
  const TrainResult r = train_classifier(model, train, &dev, nullptr, o, tmp.path + "/model");
  CATCH_CHECK(r.final_loss < r.first_loss);
  const Model trained = Model::load(tmp.path + "/model");
  CATCH_CHECK(trained.spec().head == HeadKind("test_regression"));
  const double after = -head_type(trained.spec().head).evaluate(trained, dev).first;
  CATCH_INFO("dev RMSE before " << before << ", after " << after);
  CATCH_CHECK(after < 0.5);
  CATCH_CHECK(after < before / 2);
  const auto p = trained.predict({"房间干净", "好好好"});
  CATCH_CHECK(p[1].logits[0] > p[0].logits[0] + 1.5);
  // The files name the head's weights as its kind says.
  std::ifstream spec(tmp.path + "/model/kbert.json");
  CATCH_CHECK(nlohmann::json::parse(spec)["head"] == "test_regression");
}

CATCH_TEST_CASE("A head's loss names the file and line of a bad label; an unknown head is refused by name", "[heads]") {
  TempDir tmp;
  {
    std::ofstream(tmp.path + "/bad.tsv") << "label\ttext_a\n1\t好\nmany\t很好\n";
  }
  const Dataset bad = Dataset::load(tmp.path + "/bad.tsv");
  Model model = new_regression_model(tmp.path);
  TrainOptions o;
  o.epochs = 1;
  o.progress = false;
  CATCH_CHECK_THROWS_WITH(train_classifier(model, bad, nullptr, nullptr, o, tmp.path + "/m"),
                    Catch::Contains("bad.tsv:3") && Catch::Contains("'many'"));
  model.save(tmp.path + "/saved");
  nlohmann::json j;
  std::ifstream(tmp.path + "/saved/kbert.json") >> j;
  j["head"] = "no_such_head";
  std::ofstream(tmp.path + "/saved/kbert.json") << j.dump();
  CATCH_CHECK_THROWS_WITH(Model::load(tmp.path + "/saved"), Catch::Contains("kbert.json") && Catch::Contains("no_such_head") &&
                                                            Catch::Contains("test_regression"));
  CATCH_CHECK_THROWS_AS(HeadRegistration(regression_head()), std::logic_error);  // a name is registered once
}
