#include "train/distributed.hpp"
#include "train/train_loop.hpp"
#include "train/train_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <map>
#include <numeric>
#include <random>

#include "kbert/common/atomic_file.hpp"
#include "kbert/common/error.hpp"
#include "kbert/common/output_dir.hpp"
#include "io/run_state.hpp"
#include "encoder/allocator.hpp"
#include "encoder/checkpoint.hpp"
#include "model/model_impl.hpp"
#include "encoder/tensor_io.hpp"


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


// A module's parameters by name, and back: the auxiliary head of a checkpoint.
TensorList module_tensors(torch::nn::Module& m) {
  TensorList out;
  for (auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value().detach());
  return out;
}
void load_module(torch::nn::Module& m, const TensorList& tensors, const std::string& path) {
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters(true);
  std::size_t found = 0;
  for (const auto& [name, t] : tensors) {
    torch::Tensor* p = params.find(name);
    if (!p || !p->sizes().equals(t.sizes())) throw ParseError(path, 0, "tensor '" + name + "' does not fit the head");
    p->copy_(t);
    ++found;
  }
  if (found != params.size()) throw ParseError(path, 0, "the head's tensors are incomplete");
}

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

// The settings that decide the course of a run: a checkpoint resumes only under the same ones.
nlohmann::json run_fingerprint(const Model::Impl& im, const TrainOptions& o) {
  const TreeOptions& t = im.builder->options();
  nlohmann::json j = {{"epochs", o.epochs},
                      {"batch_size", o.batch_size},
                      {"accumulation", o.accumulation},
                      {"learning_rate", o.learning_rate},
                      {"warmup", o.warmup},
                      {"weight_decay", o.weight_decay},
                      {"max_grad_norm", o.max_grad_norm},
                      {"seed", o.seed},
                      {"shuffle", o.shuffle},
                      {"group_by_length", o.group_by_length},
                      {"metric", o.metric},
                      {"precision", precision_name(o.precision)},
                      {"labels", im.spec.labels},
                      {"head", static_cast<int>(im.spec.head)},
                      {"pooling", static_cast<int>(im.spec.pooling)},
                      {"max_length", t.max_length},
                      {"max_entities", t.max_entities},
                      {"predicate", t.predicate},
                      {"truncation", truncation_name(t.truncation)},
                      {"kg", im.kg_sources},
                      {"use_visible_matrix", im.spec.use_visible_matrix},
                      {"use_soft_positions", im.spec.use_soft_positions},
                      {"lexical_buckets", im.spec.lexical_buckets},
                      {"lexical_learning_rate", o.lexical_learning_rate},
                      {"layers", im.config.num_layers},
                      {"hidden", im.config.hidden_size},
                      {"vocab", im.config.vocab_size}};
  // Multi-hop settings only when set, so that checkpoints written before them still resume.
  if (t.hops != 1) j["hops"] = t.hops;
  if (t.max_facts != 0) j["max_facts"] = t.max_facts;
  if (im.spec.lexical_knowledge) j["lexical_knowledge"] = true;
  if (im.spec.knowledge_gate) {
    j["knowledge_gate"] = true;
    j["gate_learning_rate"] = o.gate_learning_rate;
  }
  return j;
}

// AdamW's state as safetensors, so that a checkpoint is read back through the same bounded
// reader as the weights (no LibTorch loader on bytes from disk): per parameter (group g,
// index i in it) "g.i.exp_avg" and "g.i.exp_avg_sq" (float32, the parameter's shape) and
// "g.i.step" (int64 [1]); a parameter without state yet has none.
void save_optimizer(torch::optim::AdamW& opt, const std::string& path) {
  TensorList out;
  auto& groups = opt.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto it = opt.state().find(c10::guts::to_string(params[i].unsafeGetTensorImpl()));
      if (it == opt.state().end()) continue;
      const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      const std::string k = std::to_string(g) + "." + std::to_string(i) + ".";
      out.emplace_back(k + "exp_avg", s.exp_avg().detach());
      out.emplace_back(k + "exp_avg_sq", s.exp_avg_sq().detach());
      out.emplace_back(k + "step", torch::tensor({static_cast<std::int64_t>(s.step())}, torch::kLong));
    }
  }
  write_safetensors(path, out);
}

// The state save_optimizer wrote, every tensor checked against its parameter (shape, dtype,
// finite, second moments >= 0, 0 <= step <= max_step) before it replaces the optimizer's;
// errors name the file and the tensor.
void load_optimizer(torch::optim::AdamW& opt, const std::string& path, std::int64_t max_step) {
  {  // names, dtypes and shapes against the parameters, from the header, before the data is read
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FileError(path, "cannot open");
    std::error_code ec;
    const std::uint64_t size = fs::file_size(path, ec);
    unsigned char len[8] = {0};
    if (ec || size < 8 || !in.read(reinterpret_cast<char*>(len), 8)) throw ParseError(path, 0, "too short for a safetensors file");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
    if (n > io::kMaxSafetensorsHeader || n > size - 8) throw ParseError(path, 0, "bad safetensors header size");
    std::string header(static_cast<std::size_t>(n), '\0');
    if (!in.read(header.data(), static_cast<std::streamsize>(n))) throw ParseError(path, 0, "truncated header");
    std::vector<std::vector<std::vector<std::int64_t>>> shapes;
    for (auto& g : opt.param_groups()) {
      shapes.emplace_back();
      for (const auto& p : g.params()) shapes.back().push_back(p.sizes().vec());
    }
    io::check_optimizer_entries(path, io::parse_safetensors_header(path, header, size - 8 - n), shapes);
  }
  // Names, dtypes, shapes and completeness are checked above; here the values.
  const TensorList tensors = read_safetensors(path);
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [name, t] : tensors) by_name[name] = t;
  auto& groups = opt.param_groups();
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::string k = std::to_string(g) + "." + std::to_string(i) + ".";
      const auto m = by_name.find(k + "exp_avg");
      if (m == by_name.end()) continue;  // no state yet (check_optimizer_entries: all three or none)
      const at::Tensor& v = by_name.at(k + "exp_avg_sq");
      const at::Tensor& s = by_name.at(k + "step");
      for (const auto& [name, t] : {std::pair{k + "exp_avg", m->second}, std::pair{k + "exp_avg_sq", v}})
        if (!at::isfinite(t).all().item<bool>()) throw ParseError(path, 0, "tensor '" + name + "' holds NaN or infinite values");
      if ((v < 0).any().item<bool>()) throw ParseError(path, 0, "tensor '" + k + "exp_avg_sq' holds negative values");
      const std::int64_t step = s.item<std::int64_t>();
      if (step < 0 || step > max_step)
        throw ParseError(path, 0, "tensor '" + k + "step' is " + std::to_string(step) + ", outside 0 to " + std::to_string(max_step));
      auto state = std::make_unique<torch::optim::AdamWParamState>();
      state->step(step);
      state->exp_avg(m->second.clone());
      state->exp_avg_sq(v.clone());
      opt.state()[c10::guts::to_string(params[i].unsafeGetTensorImpl())] = std::move(state);
    }
  }
}

// A checkpoint's state (io::parse_run_state: every value range-checked, errors naming the
// file and the field), refused (naming each difference) when it was made under other settings.
io::RunState read_state(const std::string& path, const nlohmann::json& fingerprint, const io::RunShape& shape) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) throw FileError(path, "cannot open");
  if (size > (std::uintmax_t{64} << 20)) throw ParseError(path, 1, "over 64 MiB: not a kbert checkpoint's state");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "cannot open");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  io::RunState s = io::parse_run_state(path, text, shape);
  std::string diff;
  const nlohmann::json& had = s.fingerprint;
  for (auto it = fingerprint.begin(); it != fingerprint.end(); ++it) {
    const nlohmann::json before = had.contains(it.key()) ? had[it.key()] : nlohmann::json("(not recorded)");
    if (before != it.value()) {
      std::string a = before.dump(), b = it.value().dump();
      if (a.size() > 60) a = a.substr(0, 57) + "...";
      if (b.size() > 60) b = b.substr(0, 57) + "...";
      diff += (diff.empty() ? "" : "; ") + it.key() + " was " + a + ", now " + b;
    }
  }
  if (!diff.empty())
    throw std::invalid_argument("--resume: the checkpoint " + path + " was made with other data or settings (" + diff +
                                "); resume with the same ones, or train without --resume");
  return s;
}

}  // namespace

TrainResult run_training(Model& model, const TrainTask& task, bool has_dev, bool has_test, const TrainOptions& o,
                         const std::string& out_dir) {
  Model::Impl& im = TrainAccess::impl(model);
  KBERT_CHECK(o.batch_size > 0 && o.accumulation > 0, "batch size and accumulation must be positive");
  // 0 epochs: the model as it starts, which is a trained model only when a head was fitted first.
  KBERT_CHECK(o.epochs > 0 || task.evaluate_first,
              "epochs must be positive (0 is for --lexical-fit first: the fitted side channel alone)");
  check_options(o.learning_rate, o.warmup, o.weight_decay, o.max_grad_norm);
  warn_if_bf16_slow(o.precision);
  // Dev and test evaluation during training run in the training's precision.
  struct RestorePrecision {
    RunOptions& run;
    Precision was;
    ~RestorePrecision() { run.precision = was; }
  } restore{im.run, im.run.precision};
  im.run.precision = o.precision;

  // AdamW; no weight decay on biases and LayerNorm parameters.
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
  std::vector<double> base_lr = {o.learning_rate, o.learning_rate};
  if (!lexical.empty()) {
    groups.emplace_back(lexical, std::make_unique<AdamWOptions>(
                                     AdamWOptions(o.lexical_learning_rate).weight_decay(o.weight_decay).eps(1e-6)));
    base_lr.push_back(o.lexical_learning_rate);
  }
  if (!gate.empty()) {
    groups.emplace_back(gate, std::make_unique<AdamWOptions>(AdamWOptions(o.gate_learning_rate).weight_decay(0.0).eps(1e-6)));
    base_lr.push_back(o.gate_learning_rate);
  }
  torch::optim::AdamW opt(std::move(groups), AdamWOptions(o.learning_rate));

  CachingAllocatorScope cache;
  // Data parallelism (WORLD_SIZE > 1): each global batch of world x batch_size examples is
  // formed as one process with that batch size would form it and split among the ranks;
  // their gradients are summed before every step. Rank 0 evaluates, reports and writes.
  const DistributedEnv env = env::distributed();
  std::unique_ptr<Ranks> ranks;
  if (env.world > 1) ranks = std::make_unique<Ranks>(env);
  const bool lead = env.rank == 0;
  const std::size_t world = static_cast<std::size_t>(env.world);
  const std::size_t global_batch = o.batch_size * world;
  const std::size_t n = task.size;
  const std::size_t batches = (n + global_batch - 1) / global_batch;
  const std::size_t steps_per_epoch = (batches + o.accumulation - 1) / o.accumulation;
  const std::size_t total_steps = steps_per_epoch * o.epochs;

  // The output and its checkpoint: refused unless new or kbert's, locked against a second
  // writer. Claimed by rank 0 alone; the other ranks read the checkpoint to resume.
  std::optional<OutputDir> out, ckpt_dir;
  TrainOptions shown = o;
  if (!lead) shown.progress = false;
  const Reporter report(shown);
  std::string ckpt;
  if (lead) {
    out.emplace(out_dir);
    ckpt_dir.emplace(out->path() + ".checkpoint", /*lock=*/false);
    for (const auto* notes : {&out->notes(), &ckpt_dir->notes()})
      for (const auto& note : *notes) report.note(note);
    ckpt = ckpt_dir->path();
  } else {
    ckpt = OutputDir::normalise(out_dir) + ".checkpoint";  // rank 0's path, unclaimed
  }
  TrainOptions global = o;  // a checkpoint is of the global batch: it resumes with any number of ranks
  global.batch_size = global_batch;
  nlohmann::json fingerprint = task.fingerprint;
  fingerprint.update(run_fingerprint(im, global));
  if (!has_dev) fingerprint.erase("metric");  // without dev data the metric decides nothing
  std::size_t start_epoch = 0, start_batch = 0, step = 0, bad_epochs = 0, best_epoch = 0;
  double best = -1;
  TrainResult result;
  result.ranks = world;
  nlohmann::json log_entries = nlohmann::json::array();
  if (ranks) ranks->all_reduce_sum({torch::zeros({1})});  // rank 0 has settled the output before anyone reads it
  if (o.resume && fs::exists(ckpt + "/state.json")) {
    const io::RunState st = read_state(ckpt + "/state.json", fingerprint, {o.epochs, batches, steps_per_epoch, o.accumulation});
    start_epoch = st.epoch;
    start_batch = st.batch;
    step = st.step;
    best = st.best;
    best_epoch = st.best_epoch;
    bad_epochs = st.bad_epochs;
    result.first_loss = st.first_loss;
    log_entries = st.log;
    load_weights(im.net, read_safetensors(ckpt + "/model.safetensors"), ckpt + "/model.safetensors");
    if (task.aux) load_module(*task.aux, read_safetensors(ckpt + "/aux.safetensors"), ckpt + "/aux.safetensors");
    if (!fs::exists(ckpt + "/optimizer.safetensors") && fs::exists(ckpt + "/optimizer.pt"))
      throw FileError(ckpt + "/optimizer.pt", "a checkpoint of an older kbert: its optimizer state is not read (LibTorch's "
                                              "loader is not safe on files from disk); train without --resume");
    load_optimizer(opt, ckpt + "/optimizer.safetensors", static_cast<std::int64_t>(total_steps));
    report.note("resuming at epoch " + std::to_string(start_epoch + 1) + ", batch " + std::to_string(start_batch));
  } else if (o.resume) {
    report.note("no checkpoint at " + ckpt + ": starting from the beginning");
  }
  if (ranks) {  // every rank starts from rank 0's weights
    std::vector<at::Tensor> params;
    for (auto& p : im.net->parameters()) params.push_back(p.detach());
    if (task.aux)
      for (auto& p : task.aux->parameters()) params.push_back(p.detach());
    ranks->broadcast_from_first(params);
  }
  auto save_checkpoint = [&](std::size_t epoch, std::size_t batch) {
    if (!lead) return;
    ckpt_dir->replace([&](const std::string& dir) {
      im.write_files(dir);
      if (task.aux) write_safetensors(dir + "/aux.safetensors", module_tensors(*task.aux));
      save_optimizer(opt, dir + "/optimizer.safetensors");
      nlohmann::json st = {{"epoch", epoch}, {"batch", batch}, {"step", step}, {"best", best}, {"best_epoch", best_epoch},
                           {"bad_epochs", bad_epochs}, {"first_loss", result.first_loss}, {"log", log_entries},
                           {"fingerprint", fingerprint}};
      write_file_atomically(dir + "/state.json", [&](std::ostream& os) { os << st.dump(2) << "\n"; });
    });
  };
  auto write_log = [&](const std::string& dir) {
    write_file_atomically(dir + "/train_log.jsonl", [&](std::ostream& os) {
      for (const auto& e : log_entries) os << e.dump() << "\n";
    });
  };
  auto write_model = [&] {  // the best model so far, with the log
    out->replace([&](const std::string& dir) {
      im.write_files(dir);
      write_log(dir);
    });
  };

  for (const auto& note : task.notes) report.note(note);
  if (task.evaluate_first && has_dev && lead && start_epoch == 0 && start_batch == 0 && step == 0) {
    im.net->eval();
    Evaluation r = task.evaluate(model, false);
    best = r.metric;
    best_epoch = 0;
    nlohmann::json log = {{"epoch", 0}, {"steps", 0}, {"dev", nlohmann::json::parse(r.json)}};
    log_entries.push_back(log);
    std::ostringstream os;
    os << "before the first epoch: dev " << (o.metric.empty() ? "metric" : o.metric) << " " << std::fixed
       << std::setprecision(4) << r.metric;
    report.note(os.str());
    store(result, std::move(r), false);
    write_model();
  }
  const auto t0 = Clock::now();
  std::size_t seen = 0;
  for (std::size_t epoch = start_epoch; epoch < o.epochs; ++epoch) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (o.shuffle) {
      std::mt19937_64 rng(o.seed * 1000003ull + epoch);
      std::shuffle(order.begin(), order.end(), rng);
      if (o.group_by_length) group_by_length(order, global_batch, task.length, rng);
    }
    im.net->train();
    if (task.aux) task.aux->train();
    const auto e0 = Clock::now();
    double epoch_loss = 0;
    std::size_t epoch_batches = 0;
    for (std::size_t b = (epoch == start_epoch ? start_batch : 0); b < batches; ++b) {
      const std::size_t lo = b * global_batch, hi = std::min(n, lo + global_batch);
      // This rank's share of the global batch, and its weight in the batch's mean loss.
      const std::size_t mine_lo = std::min(hi, lo + env.rank * o.batch_size);
      const std::size_t mine_hi = std::min(hi, mine_lo + o.batch_size);
      std::vector<std::size_t> examples(order.begin() + static_cast<std::ptrdiff_t>(mine_lo),
                                        order.begin() + static_cast<std::ptrdiff_t>(mine_hi));
      TaskLoss part;
      if (!examples.empty()) {
        AutocastScope autocast(o.precision);  // the backward pass follows the forward's dtypes
        // The batch's seed (the same on every rank) and dropout's, per rank: a resumed run
        // replays both.
        const std::uint64_t batch_seed = o.seed * 7919ull + epoch * 1000003ull + b;
        torch::manual_seed(batch_seed + 104729ull * static_cast<std::uint64_t>(env.rank));
        part = task.loss(examples, batch_seed);
      }
      // The batch's mean loss and this rank's weight in it (its units over the batch's; 1 in one
      // process), and whether any rank was asked to stop: one exchange between the ranks.
      double l = part.mean.defined() ? part.mean.item<double>() : 0.0;
      double share = 1;
      if (ranks) {
        torch::Tensor t = torch::tensor({part.units, l * part.units, g_stop_requested.exchange(false) ? 1.0 : 0.0},
                                        torch::kDouble);
        ranks->all_reduce_sum({t});
        const double units = t[0].item<double>();
        share = units > 0 ? part.units / units : 0.0;
        l = units > 0 ? t[1].item<double>() / units : 0.0;
        if (t[2].item<double>() > 0) g_stop_requested.store(true);
      }
      if (part.mean.defined()) (part.mean * (share / static_cast<double>(o.accumulation))).backward();
      if (!std::isfinite(l)) throw std::runtime_error("training diverged: loss is " + std::to_string(l) + " at epoch " +
                                                      std::to_string(epoch + 1) + ", batch " + std::to_string(b + 1));
      if (result.first_loss == 0) result.first_loss = l;
      epoch_loss += l;
      ++epoch_batches;
      seen += hi - lo;
      if ((b + 1) % o.accumulation == 0 || b + 1 == batches) {
        if (ranks) {  // the global batch's gradient: the sum of the ranks' weighted ones
          std::vector<at::Tensor> grads;
          for (auto& p : all) {
            if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
            grads.push_back(p.grad());
          }
          const auto r0 = Clock::now();
          ranks->all_reduce_sum(grads);
          result.allreduce_seconds += std::chrono::duration<double>(Clock::now() - r0).count();
        }
        if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(all, o.max_grad_norm);
        const double factor = bert_adam_factor(static_cast<double>(step) / static_cast<double>(total_steps), o.warmup);
        for (std::size_t g = 0; g < opt.param_groups().size(); ++g)
          static_cast<AdamWOptions&>(opt.param_groups()[g].options()).lr(base_lr[g] * factor);
        opt.step();
        opt.zero_grad();
        ++step;
        const bool stop = (o.stop_after_steps && step == o.stop_after_steps) || g_stop_requested.exchange(false);
        if (stop || (o.checkpoint_every && step % o.checkpoint_every == 0 && b + 1 < batches))
          save_checkpoint(epoch, b + 1);
        if (stop) {
          report.note("stopped after step " + std::to_string(step) + "; the checkpoint " + ckpt + " resumes it");
          result.interrupted = true;
          result.steps = step;
          result.final_loss = epoch_loss / static_cast<double>(epoch_batches);
          result.loop_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
          result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
          result.examples_per_second = static_cast<double>(seen) / std::max(result.loop_seconds, 1e-9);
          return result;
        }
      }
      if (o.progress) {
        const double el = std::chrono::duration<double>(Clock::now() - e0).count();
        const double rate = static_cast<double>((b + 1 - (epoch == start_epoch ? start_batch : 0)) * global_batch) / std::max(el, 1e-9);
        TrainProgress p;
        p.epoch = epoch + 1;
        p.epochs = o.epochs;
        p.batch = b + 1;
        p.batches = batches;
        p.step = step;
        p.loss = epoch_loss / static_cast<double>(epoch_batches);
        p.examples_per_second = rate;
        p.eta_seconds = static_cast<double>((batches - b - 1) * global_batch) / std::max(rate, 1e-9);
        report.batch(p);
      }
    }
    result.loop_seconds += std::chrono::duration<double>(Clock::now() - e0).count();
    im.net->eval();
    result.final_loss = epoch_batches ? epoch_loss / static_cast<double>(epoch_batches) : result.final_loss;
    nlohmann::json log = {{"epoch", epoch + 1}, {"train_loss", result.final_loss}, {"steps", step},
                          {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}};
    bool improved = true;
    double dev_metric = 0;
    if (has_dev && lead) {
      Evaluation r = task.evaluate(model, false);
      const double m = r.metric;
      dev_metric = m;
      log["dev"] = nlohmann::json::parse(r.json);
      improved = m > best;
      if (improved) {
        best = m;
        best_epoch = epoch + 1;
        store(result, std::move(r), false);
        bad_epochs = 0;
      } else {
        ++bad_epochs;
      }
    } else {
      best_epoch = epoch + 1;
    }
    {
      TrainProgress p;
      p.kind = TrainProgress::Kind::kEpoch;
      p.epoch = epoch + 1;
      p.epochs = o.epochs;
      p.batch = p.batches = batches;
      p.step = step;
      p.loss = result.final_loss;
      p.has_dev = has_dev;
      p.dev_metric = dev_metric;
      p.metric = o.metric;
      p.best = improved;
      report.epoch(p);
    }
    log_entries.push_back(log);
    if (lead && (improved || !out->exists())) {
      write_model();
    } else if (lead) {
      write_log(out->path());
    }
    result.epochs_run = epoch + 1;
    save_checkpoint(epoch + 1, 0);
    bool stop_early = o.patience && bad_epochs >= o.patience;
    if (ranks) {  // rank 0 decided (it alone evaluates); the others follow
      torch::Tensor t = torch::tensor({lead && stop_early ? 1.0f : 0.0f});
      ranks->all_reduce_sum({t});
      stop_early = t.item<float>() > 0;
    }
    if (stop_early) {
      report.note("no dev improvement for " + std::to_string(bad_epochs) + " epochs, stopping");
      break;
    }
  }
  result.steps = step;
  result.best_epoch = best_epoch;
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result.examples_per_second = result.loop_seconds > 0 ? static_cast<double>(seen) / result.loop_seconds : 0;
  const bool have_dev_report = result.best_dev || result.best_dev_entities;
  if (!lead) return result;  // rank 0 reports and cleans up
  if (o.epochs == 0 && !out->exists()) write_model();  // the fitted head alone, without dev data
  if ((has_test || (has_dev && !have_dev_report)) && fs::exists(out->path() + "/kbert.json")) {
    Model best_model = Model::load(out->path(), im.run);
    // After a resume the best epoch may predate it: its dev report comes from the saved model.
    if (has_dev && !have_dev_report) store(result, task.evaluate(best_model, false), false);
    if (has_test) store(result, task.evaluate(best_model, true), true);
  }
  ckpt_dir->remove();  // finished: nothing to resume
  return result;
}

void request_training_stop() noexcept { g_stop_requested.store(true); }
bool training_stop_requested() noexcept { return g_stop_requested.load(); }

}  // namespace kbert
