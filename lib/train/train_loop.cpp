#include "train/distributed.hpp"
#include "train/train_loop.hpp"
#include "train/checkpoint_files.hpp"
#include "train/train_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/output_dir.hpp"
#include "encoder/allocator.hpp"
#include "encoder/checkpoint.hpp"
#include "model/model_impl.hpp"


namespace kbert {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double bert_adam_factor(double progress, double warmup) {
  // BertAdam's warmup_linear (UER / K-BERT): x / warmup during warm-up, then 1 - x.
  if (warmup > 0 && progress < warmup) return progress / warmup;
  return std::max(0.0, 1.0 - progress);
}

// Reorders a shuffled `order` so that each batch holds examples of similar length: sorted
// by length within windows of 64 batches, then whole batches shuffled. Batches carry
// little padding and still come in random order.
void group_by_length(std::vector<std::size_t>& order, std::size_t batch_size,
                     const std::function<std::size_t(std::size_t)>& length, std::mt19937_64& rng) {
  const std::size_t n = order.size(), batches = (n + batch_size - 1) / batch_size;
  const std::size_t window = batch_size * 64;
  for (std::size_t w = 0; w < n; w += window) {
    auto first = order.begin() + static_cast<std::ptrdiff_t>(w);
    auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(n, w + window));
    std::stable_sort(first, last, [&](std::size_t x, std::size_t y) { return length(x) < length(y); });
  }
  std::vector<std::size_t> batch_order(batches);
  std::iota(batch_order.begin(), batch_order.end(), 0);
  std::shuffle(batch_order.begin(), batch_order.end(), rng);
  std::vector<std::size_t> grouped;
  grouped.reserve(n);
  for (std::size_t bi : batch_order)
    for (std::size_t k = bi * batch_size; k < std::min(n, (bi + 1) * batch_size); ++k) grouped.push_back(order[k]);
  order.swap(grouped);
}

void store(TrainResult& result, Evaluation ev, bool test) {
  if (ev.classification) (test ? result.test : result.best_dev) = std::move(ev.classification);
  if (ev.entities) (test ? result.test_entities : result.best_dev_entities) = std::move(ev.entities);
}

std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_training_stop must be async-signal-safe");


// Options out of range are refused before anything is loaded or written.
void check_options(double learning_rate, double warmup, double weight_decay, double max_grad_norm) {
  KBERT_CHECK(std::isfinite(learning_rate) && learning_rate > 0 && learning_rate <= 1,
              "learning rate must be in (0, 1], got ", learning_rate);
  KBERT_CHECK(std::isfinite(warmup) && warmup >= 0 && warmup <= 1, "warmup is a fraction of the steps, in [0, 1]; got ",
              warmup);
  KBERT_CHECK(std::isfinite(weight_decay) && weight_decay >= 0 && weight_decay <= 1, "weight decay must be in [0, 1], got ",
              weight_decay);
  KBERT_CHECK(std::isfinite(max_grad_norm) && max_grad_norm >= 0, "max_grad_norm must be 0 (off) or positive, got ",
              max_grad_norm);
}

// The optimizer of a run: AdamW in groups (decayed weights; biases and LayerNorm without
// decay; the lexical side channel and the knowledge gate with learning rates of their own),
// each group's base learning rate, and every trained parameter (for clipping and all-reduce).
struct Optimizer {
  std::unique_ptr<torch::optim::AdamW> adamw;
  std::vector<double> base_lr;
  std::vector<torch::Tensor> all;
};

Optimizer make_optimizer(Model::Impl& im, const TrainTask& task, const TrainOptions& o) {
  std::vector<torch::Tensor> decay, no_decay, lexical, gate, all;
  auto sort_param = [&](const std::string& n, const torch::Tensor& p) {
    if (!p.requires_grad()) return;  // fixed weights (the side channel's IDF)
    all.push_back(p);
    if (n == "head.lexical") {  // the lexical side channel: a linear model with a learning rate of its own
      lexical.push_back(p);
      return;
    }
    if (n.rfind("bert.gate.", 0) == 0) {  // the knowledge gate: a learning rate of its own, no decay
      gate.push_back(p);
      return;
    }
    const bool nd = n.find("norm") != std::string::npos || n.find("LayerNorm") != std::string::npos ||
                    (n.size() >= 5 && n.compare(n.size() - 5, 5, ".bias") == 0) || n == "bias";
    (nd ? no_decay : decay).push_back(p);
  };
  for (auto& p : im.net->named_parameters(true)) sort_param(p.key(), p.value());
  if (task.aux)
    for (auto& p : task.aux->named_parameters(true)) sort_param(p.key(), p.value());
  using torch::optim::AdamWOptions;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<AdamWOptions>(AdamWOptions(o.learning_rate).weight_decay(o.weight_decay).eps(1e-6)));
  groups.emplace_back(no_decay, std::make_unique<AdamWOptions>(AdamWOptions(o.learning_rate).weight_decay(0.0).eps(1e-6)));
  Optimizer out;
  out.base_lr = {o.learning_rate, o.learning_rate};
  if (!lexical.empty()) {
    groups.emplace_back(lexical, std::make_unique<AdamWOptions>(
                                     AdamWOptions(o.lexical_learning_rate).weight_decay(o.weight_decay).eps(1e-6)));
    out.base_lr.push_back(o.lexical_learning_rate);
  }
  if (!gate.empty()) {
    groups.emplace_back(gate, std::make_unique<AdamWOptions>(AdamWOptions(o.gate_learning_rate).weight_decay(0.0).eps(1e-6)));
    out.base_lr.push_back(o.gate_learning_rate);
  }
  out.adamw = std::make_unique<torch::optim::AdamW>(std::move(groups), AdamWOptions(o.learning_rate));
  out.all = std::move(all);
  return out;
}

// One run of the loop, in named steps: claim the output, resume, (evaluate first), epochs of
// batches and optimizer steps, evaluation and early stopping per epoch, the final test.
//
// Data parallelism (WORLD_SIZE > 1): each global batch of world x batch_size examples is
// formed as one process with that batch size would form it and split among the ranks; their
// gradients are summed before every step. Rank 0 evaluates, reports and writes.
class TrainingRun {
 public:
  TrainingRun(Model& model, const TrainTask& task, bool has_dev, bool has_test, const TrainOptions& o)
      : model_(model),
        im_(TrainAccess::impl(model)),
        task_(task),
        has_dev_(has_dev),
        has_test_(has_test),
        o_(o),
        env_(env::distributed()),
        lead_(env_.rank == 0),
        shown_(shown_options(o, lead_)),
        report_(shown_),
        opt_(make_optimizer(im_, task, o)) {
    if (env_.world > 1) ranks_ = std::make_unique<Ranks>(env_);
    world_ = static_cast<std::size_t>(env_.world);
    global_batch_ = o.batch_size * world_;
    batches_ = (task.size + global_batch_ - 1) / global_batch_;
    steps_per_epoch_ = (batches_ + o.accumulation - 1) / o.accumulation;
    total_steps_ = steps_per_epoch_ * o.epochs;
    result_.ranks = world_;
  }

  TrainResult run(const std::string& out_dir) {
    claim_output(out_dir);
    resume();
    broadcast_weights();
    for (const auto& note : task_.notes) report_.note(note);
    if (task_.evaluate_first && has_dev_ && lead_ && start_epoch_ == 0 && start_batch_ == 0 && step_ == 0)
      evaluate_first();
    t0_ = Clock::now();
    for (std::size_t epoch = start_epoch_; epoch < o_.epochs; ++epoch) {
      if (!train_epoch(epoch)) return stopped();
      if (end_epoch(epoch)) break;
    }
    return finish();
  }

 private:
  static TrainOptions shown_options(const TrainOptions& o, bool lead) {
    TrainOptions shown = o;
    if (!lead) shown.progress = false;
    return shown;
  }

  // The output and its checkpoint: refused unless new or kbert's, locked against a second
  // writer. Claimed by rank 0 alone; the other ranks read the checkpoint to resume.
  void claim_output(const std::string& out_dir) {
    if (lead_) {
      out_.emplace(out_dir);
      ckpt_dir_.emplace(out_->path() + ".checkpoint", /*lock=*/false);
      for (const auto* notes : {&out_->notes(), &ckpt_dir_->notes()})
        for (const auto& note : *notes) report_.note(note);
      ckpt_ = ckpt_dir_->path();
    } else {
      ckpt_ = OutputDir::normalise(out_dir) + ".checkpoint";  // rank 0's path, unclaimed
    }
    TrainOptions global = o_;  // a checkpoint is of the global batch: it resumes with any number of ranks
    global.batch_size = global_batch_;
    fingerprint_ = task_.fingerprint;
    fingerprint_.update(run_fingerprint(im_, global));
    if (!has_dev_) fingerprint_.erase("metric");  // without dev data the metric decides nothing
    if (ranks_) ranks_->all_reduce_sum({torch::zeros({1})});  // rank 0 has settled the output before anyone reads it
  }

  void resume() {
    if (o_.resume && fs::exists(ckpt_ + "/state.json")) {
      const io::RunState st =
          read_state(ckpt_ + "/state.json", fingerprint_, {o_.epochs, batches_, steps_per_epoch_, o_.accumulation});
      start_epoch_ = st.epoch;
      start_batch_ = st.batch;
      step_ = st.step;
      best_ = st.best;
      best_epoch_ = st.best_epoch;
      bad_epochs_ = st.bad_epochs;
      result_.first_loss = st.first_loss;
      log_entries_ = st.log;
      load_weights(im_.net, read_safetensors(ckpt_ + "/model.safetensors"), ckpt_ + "/model.safetensors");
      if (task_.aux) load_module(*task_.aux, read_safetensors(ckpt_ + "/aux.safetensors"), ckpt_ + "/aux.safetensors");
      if (!fs::exists(ckpt_ + "/optimizer.safetensors") && fs::exists(ckpt_ + "/optimizer.pt"))
        throw FileError(ckpt_ + "/optimizer.pt", "a checkpoint of an older kbert: its optimizer state is not read (LibTorch's "
                                                 "loader is not safe on files from disk); train without --resume");
      load_optimizer(*opt_.adamw, ckpt_ + "/optimizer.safetensors", static_cast<std::int64_t>(total_steps_));
      report_.note("resuming at epoch " + std::to_string(start_epoch_ + 1) + ", batch " + std::to_string(start_batch_));
    } else if (o_.resume) {
      report_.note("no checkpoint at " + ckpt_ + ": starting from the beginning");
    }
  }

  void broadcast_weights() {  // every rank starts from rank 0's weights
    if (!ranks_) return;
    std::vector<at::Tensor> params;
    for (auto& p : im_.net->parameters()) params.push_back(p.detach());
    if (task_.aux)
      for (auto& p : task_.aux->parameters()) params.push_back(p.detach());
    ranks_->broadcast_from_first(params);
  }

  void save_checkpoint(std::size_t epoch, std::size_t batch) {
    if (!lead_) return;
    ckpt_dir_->replace([&](const std::string& dir) {
      im_.write_files(dir);
      if (task_.aux) write_safetensors(dir + "/aux.safetensors", module_tensors(*task_.aux));
      save_optimizer(*opt_.adamw, dir + "/optimizer.safetensors");
      nlohmann::json st = {{"epoch", epoch},         {"batch", batch},           {"step", step_},
                           {"best", best_},          {"best_epoch", best_epoch_}, {"bad_epochs", bad_epochs_},
                           {"first_loss", result_.first_loss}, {"log", log_entries_}, {"fingerprint", fingerprint_}};
      write_file_atomically(dir + "/state.json", [&](std::ostream& os) { os << st.dump(2) << "\n"; });
    });
  }
  void write_log(const std::string& dir) const {
    write_file_atomically(dir + "/train_log.jsonl", [&](std::ostream& os) {
      for (const auto& e : log_entries_) os << e.dump() << "\n";
    });
  }
  void write_model() {  // the best model so far, with the log
    out_->replace([&](const std::string& dir) {
      im_.write_files(dir);
      write_log(dir);
    });
  }

  // Epoch 0: the model as it starts (a head fitted first may be the best).
  void evaluate_first() {
    im_.net->eval();
    Evaluation r = task_.evaluate(model_, false);
    best_ = r.metric;
    best_epoch_ = 0;
    log_entries_.push_back({{"epoch", 0}, {"steps", 0}, {"dev", nlohmann::json::parse(r.json)}});
    std::ostringstream os;
    os << "before the first epoch: dev " << (o_.metric.empty() ? "metric" : o_.metric) << " " << std::fixed
       << std::setprecision(4) << r.metric;
    report_.note(os.str());
    store(result_, std::move(r), false);
    write_model();
  }

  std::vector<std::size_t> epoch_order(std::size_t epoch) const {
    std::vector<std::size_t> order(task_.size);
    std::iota(order.begin(), order.end(), 0);
    if (o_.shuffle) {
      std::mt19937_64 rng(o_.seed * 1000003ull + epoch);
      std::shuffle(order.begin(), order.end(), rng);
      if (o_.group_by_length) group_by_length(order, global_batch_, task_.length, rng);
    }
    return order;
  }

  // This rank's share of batch b: the loss and its backward pass; returns the batch's mean
  // loss over every rank (and learns whether any rank was asked to stop).
  double train_batch(const std::vector<std::size_t>& order, std::size_t epoch, std::size_t b) {
    const std::size_t lo = b * global_batch_, hi = std::min(task_.size, lo + global_batch_);
    const std::size_t mine_lo = std::min(hi, lo + env_.rank * o_.batch_size);
    const std::size_t mine_hi = std::min(hi, mine_lo + o_.batch_size);
    std::vector<std::size_t> examples(order.begin() + static_cast<std::ptrdiff_t>(mine_lo),
                                      order.begin() + static_cast<std::ptrdiff_t>(mine_hi));
    TaskLoss part;
    if (!examples.empty()) {
      AutocastScope autocast(o_.precision);  // the backward pass follows the forward's dtypes
      // The batch's seed (the same on every rank) and dropout's, per rank: a resumed run replays both.
      const std::uint64_t batch_seed = o_.seed * 7919ull + epoch * 1000003ull + b;
      torch::manual_seed(batch_seed + 104729ull * static_cast<std::uint64_t>(env_.rank));
      part = task_.loss(examples, batch_seed);
    }
    // The batch's mean loss and this rank's weight in it (its units over the batch's; 1 in one
    // process), and whether any rank was asked to stop: one exchange between the ranks.
    double l = part.mean.defined() ? part.mean.item<double>() : 0.0;
    double share = 1;
    if (ranks_) {
      torch::Tensor t = torch::tensor({part.units, l * part.units, g_stop_requested.exchange(false) ? 1.0 : 0.0},
                                      torch::kDouble);
      ranks_->all_reduce_sum({t});
      const double units = t[0].item<double>();
      share = units > 0 ? part.units / units : 0.0;
      l = units > 0 ? t[1].item<double>() / units : 0.0;
      if (t[2].item<double>() > 0) g_stop_requested.store(true);
    }
    if (part.mean.defined()) (part.mean * (share / static_cast<double>(o_.accumulation))).backward();
    if (!std::isfinite(l))
      throw std::runtime_error("training diverged: loss is " + std::to_string(l) + " at epoch " + std::to_string(epoch + 1) +
                               ", batch " + std::to_string(b + 1));
    seen_ += hi - lo;
    return l;
  }

  // The optimizer step after `accumulation` batches: all-reduce, clip, schedule, step.
  void optimizer_step() {
    if (ranks_) {  // the global batch's gradient: the sum of the ranks' weighted ones
      std::vector<at::Tensor> grads;
      for (auto& p : opt_.all) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        grads.push_back(p.grad());
      }
      const auto r0 = Clock::now();
      ranks_->all_reduce_sum(grads);
      result_.allreduce_seconds += std::chrono::duration<double>(Clock::now() - r0).count();
    }
    if (o_.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(opt_.all, o_.max_grad_norm);
    const double factor = bert_adam_factor(static_cast<double>(step_) / static_cast<double>(total_steps_), o_.warmup);
    auto& groups = opt_.adamw->param_groups();
    for (std::size_t g = 0; g < groups.size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr(opt_.base_lr[g] * factor);
    opt_.adamw->step();
    opt_.adamw->zero_grad();
    ++step_;
  }

  void report_batch(std::size_t epoch, std::size_t b) const {
    const double el = std::chrono::duration<double>(Clock::now() - e0_).count();
    const std::size_t done = b + 1 - (epoch == start_epoch_ ? start_batch_ : 0);
    const double rate = static_cast<double>(done * global_batch_) / std::max(el, 1e-9);
    TrainProgress p;
    p.epoch = epoch + 1;
    p.epochs = o_.epochs;
    p.batch = b + 1;
    p.batches = batches_;
    p.step = step_;
    p.loss = epoch_loss_ / static_cast<double>(epoch_batches_);
    p.examples_per_second = rate;
    p.eta_seconds = static_cast<double>((batches_ - b - 1) * global_batch_) / std::max(rate, 1e-9);
    report_.batch(p);
  }

  // One epoch's batches; false when the run was stopped (a checkpoint resumes it).
  bool train_epoch(std::size_t epoch) {
    const std::vector<std::size_t> order = epoch_order(epoch);
    im_.net->train();
    if (task_.aux) task_.aux->train();
    e0_ = Clock::now();
    epoch_loss_ = 0;
    epoch_batches_ = 0;
    for (std::size_t b = (epoch == start_epoch_ ? start_batch_ : 0); b < batches_; ++b) {
      const double l = train_batch(order, epoch, b);
      if (result_.first_loss == 0) result_.first_loss = l;
      epoch_loss_ += l;
      ++epoch_batches_;
      if ((b + 1) % o_.accumulation == 0 || b + 1 == batches_) {
        optimizer_step();
        const bool stop = (o_.stop_after_steps && step_ == o_.stop_after_steps) || g_stop_requested.exchange(false);
        if (stop || (o_.checkpoint_every && step_ % o_.checkpoint_every == 0 && b + 1 < batches_))
          save_checkpoint(epoch, b + 1);
        if (stop) return false;
      }
      if (o_.progress) report_batch(epoch, b);
    }
    result_.loop_seconds += std::chrono::duration<double>(Clock::now() - e0_).count();
    return true;
  }

  TrainResult stopped() {
    report_.note("stopped after step " + std::to_string(step_) + "; the checkpoint " + ckpt_ + " resumes it");
    result_.interrupted = true;
    result_.steps = step_;
    result_.final_loss = epoch_loss_ / static_cast<double>(epoch_batches_);
    result_.loop_seconds += std::chrono::duration<double>(Clock::now() - e0_).count();
    result_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    result_.examples_per_second = static_cast<double>(seen_) / std::max(result_.loop_seconds, 1e-9);
    return result_;
  }

  // Dev evaluation, the log, the best model and the checkpoint after an epoch; true to stop early.
  bool end_epoch(std::size_t epoch) {
    im_.net->eval();
    result_.final_loss = epoch_batches_ ? epoch_loss_ / static_cast<double>(epoch_batches_) : result_.final_loss;
    nlohmann::json log = {{"epoch", epoch + 1}, {"train_loss", result_.final_loss}, {"steps", step_},
                          {"seconds", std::chrono::duration<double>(Clock::now() - t0_).count()}};
    bool improved = true;
    double dev_metric = 0;
    if (has_dev_ && lead_) {
      Evaluation r = task_.evaluate(model_, false);
      dev_metric = r.metric;
      log["dev"] = nlohmann::json::parse(r.json);
      improved = r.metric > best_;
      if (improved) {
        best_ = r.metric;
        best_epoch_ = epoch + 1;
        store(result_, std::move(r), false);
        bad_epochs_ = 0;
      } else {
        ++bad_epochs_;
      }
    } else {
      best_epoch_ = epoch + 1;
    }
    TrainProgress p;
    p.kind = TrainProgress::Kind::kEpoch;
    p.epoch = epoch + 1;
    p.epochs = o_.epochs;
    p.batch = p.batches = batches_;
    p.step = step_;
    p.loss = result_.final_loss;
    p.has_dev = has_dev_;
    p.dev_metric = dev_metric;
    p.metric = o_.metric;
    p.best = improved;
    report_.epoch(p);
    log_entries_.push_back(log);
    if (lead_ && (improved || !out_->exists())) {
      write_model();
    } else if (lead_) {
      write_log(out_->path());
    }
    result_.epochs_run = epoch + 1;
    save_checkpoint(epoch + 1, 0);
    bool stop_early = o_.patience && bad_epochs_ >= o_.patience;
    if (ranks_) {  // rank 0 decided (it alone evaluates); the others follow
      torch::Tensor t = torch::tensor({lead_ && stop_early ? 1.0f : 0.0f});
      ranks_->all_reduce_sum({t});
      stop_early = t.item<float>() > 0;
    }
    if (stop_early) report_.note("no dev improvement for " + std::to_string(bad_epochs_) + " epochs, stopping");
    return stop_early;
  }

  // The best model's dev (after a resume) and test reports; the checkpoint goes.
  TrainResult finish() {
    result_.steps = step_;
    result_.best_epoch = best_epoch_;
    result_.seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    result_.examples_per_second = result_.loop_seconds > 0 ? static_cast<double>(seen_) / result_.loop_seconds : 0;
    const bool have_dev_report = result_.best_dev || result_.best_dev_entities;
    if (!lead_) return result_;  // rank 0 reports and cleans up
    if (o_.epochs == 0 && !out_->exists()) write_model();  // the fitted head alone, without dev data
    if ((has_test_ || (has_dev_ && !have_dev_report)) && fs::exists(out_->path() + "/kbert.json")) {
      Model best_model = Model::load(out_->path(), im_.run);
      // After a resume the best epoch may predate it: its dev report comes from the saved model.
      if (has_dev_ && !have_dev_report) store(result_, task_.evaluate(best_model, false), false);
      if (has_test_) store(result_, task_.evaluate(best_model, true), true);
    }
    ckpt_dir_->remove();  // finished: nothing to resume
    return result_;
  }

  Model& model_;
  Model::Impl& im_;
  const TrainTask& task_;
  const bool has_dev_, has_test_;
  const TrainOptions& o_;
  const DistributedEnv env_;
  const bool lead_;
  const TrainOptions shown_;  // what the reporter reads (progress off but on rank 0)
  const Reporter report_;
  Optimizer opt_;
  CachingAllocatorScope cache_;
  std::unique_ptr<Ranks> ranks_;
  std::size_t world_ = 1, global_batch_ = 0, batches_ = 0, steps_per_epoch_ = 0, total_steps_ = 0;
  std::optional<OutputDir> out_, ckpt_dir_;
  std::string ckpt_;
  nlohmann::json fingerprint_;
  std::size_t start_epoch_ = 0, start_batch_ = 0, step_ = 0, bad_epochs_ = 0, best_epoch_ = 0, seen_ = 0;
  double best_ = -1;
  TrainResult result_;
  nlohmann::json log_entries_ = nlohmann::json::array();
  Clock::time_point t0_ = Clock::now(), e0_ = Clock::now();
  double epoch_loss_ = 0;
  std::size_t epoch_batches_ = 0;
};

}  // namespace

TrainResult run_training(Model& model, const TrainTask& task, bool has_dev, bool has_test, const TrainOptions& o,
                         const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(o.batch_size > 0 && o.accumulation > 0, "batch size and accumulation must be positive");
  // 0 epochs: the model as it starts, which is a trained model only when a head was fitted first.
  KBERT_CHECK(o.epochs > 0 || task.evaluate_first,
              "epochs must be positive (0 is for --lexical-fit first: the fitted side channel alone)");
  check_options(o.learning_rate, o.warmup, o.weight_decay, o.max_grad_norm);
  // auto: bf16 (mixed precision) where the CPU has AMX, else fp32 (resolve_precision); int8 is
  // for inference.
  TrainOptions resolved = o;
  resolved.precision = resolve_precision(o.precision, cpu::info(), /*training=*/true);
  KBERT_CHECK(resolved.precision != Precision::kInt8,
              "--precision int8 is for inference: train in fp32 or bf16, then predict with --precision int8");
  check_bf16(resolved.precision);
  // Dev and test evaluation during training run in the training's precision.
  struct RestorePrecision {
    RunOptions& run;
    Precision was;
    ~RestorePrecision() { run.precision = was; }
  } restore{im.run, im.run.precision};
  im.run.precision = resolved.precision;
  return TrainingRun(model, task, has_dev, has_test, resolved).run(out_dir);
}

void request_training_stop() noexcept { g_stop_requested.store(true); }
bool training_stop_requested() noexcept { return g_stop_requested.load(); }

}  // namespace kbert
