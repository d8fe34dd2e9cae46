#include "train/lexical_fit.hpp"

#include <array>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "kbert/common/error.hpp"
#include "kbert/text/lexical.hpp"
#include "kbert/train/metrics.hpp"

namespace kbert {
namespace {

using Bags = std::array<torch::Tensor, 3>;  // texts' features as embedding_bag takes them: index, offsets, weights

// Every text's features, in order.
Bags bags_of(const Model::Impl& im, const LexicalTexts& t) {
  std::vector<std::size_t> all(t.a.size());
  std::iota(all.begin(), all.end(), 0);
  return im.lexical_batch(t.a, t.b, all);
}

torch::Tensor scores(const torch::Tensor& w, const torch::Tensor& b, const Bags& x) {
  return std::get<0>(at::embedding_bag(w, x[0], x[1], false, /*mode=sum*/ 0, false, x[2])) + b;
}

// Minimises the (class-weighted) mean cross-entropy + |W|^2 / (2 C N): scikit-learn's
// LogisticRegression objective divided by N (its intercept is not penalised either).
std::pair<torch::Tensor, torch::Tensor> fit(const Bags& x, const torch::Tensor& y, const torch::Tensor& class_weight,
                                            std::int64_t buckets, std::int64_t labels, double c) {
  torch::AutoGradMode grad(true);
  torch::Tensor w = torch::zeros({buckets, labels}).requires_grad_(true);
  torch::Tensor b = torch::zeros({labels}).requires_grad_(true);
  auto options = torch::nn::functional::CrossEntropyFuncOptions();
  if (class_weight.defined()) options.weight(class_weight);
  const double penalty = 1.0 / (2.0 * c * static_cast<double>(y.size(0)));
  torch::optim::LBFGS opt({w, b}, torch::optim::LBFGSOptions(1.0)
                                      .max_iter(1000)
                                      .max_eval(1250)
                                      .history_size(10)
                                      .tolerance_grad(1e-6)
                                      .tolerance_change(1e-10)
                                      .line_search_fn("strong_wolfe"));
  auto closure = [&] {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(scores(w, b, x), y, options) + penalty * w.pow(2).sum();
    loss.backward();
    return loss;
  };
  opt.step(closure);
  return {w.detach(), b.detach()};
}

}  // namespace

LexicalTexts lexical_texts(const Dataset& d) {
  LexicalTexts t;
  for (const Example& e : d.examples) {
    t.a.push_back(e.text_a);
    if (d.has_pairs) t.b.push_back(e.text_b);
  }
  return t;
}

LexicalFit fit_lexical_first(Model::Impl& im, const LexicalTexts& train, const std::vector<std::int64_t>& targets,
                             const Dataset* dev, const std::vector<std::int64_t>& dev_targets,
                             const torch::Tensor& class_weight, const TrainOptions& o) {
  nn::HeadImpl& head = *im.net->head;
  KBERT_CHECK(head.lexical.defined(), "lexical_fit 'first' needs a lexical side channel (lexical buckets > 0)");
  KBERT_CHECK(std::isfinite(o.lexical_c) && o.lexical_c >= 0, "lexical C must be 0 (chosen on dev) or positive, got ",
              o.lexical_c);
  const std::int64_t buckets = head.lexical.size(0), labels = head.lexical.size(1);
  const auto n_buckets = static_cast<std::size_t>(buckets);

  // The IDF of the training texts, then their features (and dev's) weighted by it, as the model computes them.
  std::vector<LexicalFeatures> raw;
  for (std::size_t i = 0; i < train.a.size(); ++i)
    raw.push_back(im.lexical_of(train.a[i], train.b.empty() ? std::string_view() : train.b[i], nullptr));
  const std::vector<float> idf = lexical_idf(raw, n_buckets, /*min_df=*/2);
  std::size_t kept = 0;
  for (float v : idf) kept += v != 0.f;
  {
    torch::NoGradGuard no_grad;
    head.lexical_idf.copy_(torch::tensor(idf));
  }
  const Bags x = bags_of(im, train);
  const torch::Tensor y = torch::tensor(targets, torch::kLong);

  std::vector<double> grid = {o.lexical_c};
  if (o.lexical_c == 0) grid = dev ? std::vector<double>{0.03, 0.1, 0.3, 1, 3} : std::vector<double>{1};
  Bags dev_x;
  if (grid.size() > 1) dev_x = bags_of(im, lexical_texts(*dev));
  LexicalFit result;
  torch::Tensor best_w, best_b;
  double best = -1;
  std::ostringstream tried;
  tried << std::setprecision(4);
  for (double c : grid) {
    auto [w, b] = fit(x, y, class_weight, buckets, labels, c);
    double metric = 0;
    if (grid.size() > 1) {
      torch::NoGradGuard no_grad;
      const torch::Tensor predicted = scores(w, b, dev_x).argmax(1).contiguous();
      const std::vector<std::int64_t> p(predicted.data_ptr<std::int64_t>(), predicted.data_ptr<std::int64_t>() + predicted.numel());
      const ClassificationReport r = ClassificationReport::compute(dev_targets, p, im.spec.labels);
      metric = r.metric(o.metric);
      tried << (tried.tellp() > 0 ? ", " : "") << "C " << c << ": " << metric;
    }
    if (!best_w.defined() || metric > best) {
      best = metric;
      best_w = w, best_b = b;
      result.c = c;
    }
  }
  {
    torch::NoGradGuard no_grad;
    head.lexical.copy_(best_w);
    head.out->weight.zero_();
    head.out->bias.copy_(best_b);
  }
  std::ostringstream note;
  note << "lexical side channel fitted alone first: " << kept << " of " << buckets
       << " slots in 2 or more training texts; C " << result.c;
  if (grid.size() > 1) note << ", chosen on dev " << o.metric << " (" << tried.str() << ")";
  result.notes.push_back(note.str());
  return result;
}

}  // namespace kbert
