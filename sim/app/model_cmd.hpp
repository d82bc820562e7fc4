// App: `chatdc model` (one GPU/LLM/TP configuration, without a simulation) and `chatdc calibrate`
// (the step model against published measurements, optionally refitting efficiencies).
#pragma once
#include <string>
#include <vector>

namespace chatdc::app {

struct ModelArgs {
  std::string catalog_dir;
  std::string gpu, llm;
  int tp = 1;
  int ep = 1;  // expert parallelism (MoE)
  int dp = 1;  // attention data-parallel groups
  int nodes = 1;  // servers the replica spans (a deployment unit: data and expert parallelism across them)
  int redundant_experts = 0;
  double network_gbps_per_gpu = 400;  // units spanning servers: each GPU's NIC
  double rdma_efficiency = 0.86;
  int batch = 1;
  int prompt = 512;
  int output = 256;
  std::string engine;                  // efficiency profile; empty: the catalog default
  std::string weight_dtype, kv_dtype;  // empty: the LLM's
  double headroom = 0.1;
  bool max_batch = false;
  std::string table;  // measured step-time table (CSV) instead of the roofline
  bool json = false;
};
int cmd_model(const ModelArgs& a);

struct CalibrateArgs {
  std::string catalog_dir;
  std::vector<std::string> files;  // default: <catalog_dir>/calibration.csv and <catalog_dir>/calibration/pack-subset.csv
  std::string gpu;     // only this GPU
  std::string engine;  // only this engine profile (pack files)
  bool fit = false;
  bool by_model = false;      // pack files: one line per (engine, GPU, LLM)
  bool out_of_scope = false;  // pack files: list every configuration out of scope with its reason
  int threads = 0;            // 0 = all cores
  int replica_evaluations = 150;  // --fit: refinement steps through the replica scheduler
  bool json = false;
};
int cmd_calibrate(const CalibrateArgs& a);

}  // namespace chatdc::app
