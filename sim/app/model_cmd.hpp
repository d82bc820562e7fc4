// App: `chatdc model` (one GPU/LLM/TP configuration, without a simulation) and `chatdc calibrate`
// (the step model against published measurements, optionally refitting efficiencies).
#pragma once
#include <string>

namespace chatdc::app {

struct ModelArgs {
  std::string catalog_dir;
  std::string gpu, llm;
  int tp = 1;
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
  std::string file;  // default: <catalog_dir>/calibration.csv
  std::string gpu;   // only this GPU
  bool fit = false;
  bool json = false;
};
int cmd_calibrate(const CalibrateArgs& a);

}  // namespace chatdc::app
