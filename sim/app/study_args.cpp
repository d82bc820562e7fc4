#include "app/study_args.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/csv.hpp"
#include "core/error.hpp"
#include "study/executor.hpp"

namespace chatdc::app {

void add_study_options(CLI::App* c, StudyArgs& a, const std::string& out_help) {
  c->add_option("--set", a.sets, "Override a scenario key in every run (as in `chatdc run --set`); repeatable")
      ->allow_extra_args(false);
  c->add_option("--out,-o", a.out, out_help);
  c->add_option("--jobs,-j", a.jobs, "Runs at a time (default: the number of online CPUs; the cores are shared out "
                                     "among them as run.threads)");
  c->add_option("--slo-attainment", a.slo_attainment,
                "SLO attainment a feasible run reaches: a share of completed requests meeting both the TTFT and the "
                "TPOT target (default 0.99)");
  c->add_flag("--rerun", a.rerun, "Run every point again, even those whose outputs exist for the same resolved scenario");
  c->add_flag("--no-plot", a.no_plot, "Do not draw the PNG");
  c->add_flag("--quiet,-q", a.quiet, "Print nothing on success");
}

StudySettings check_study_args(const StudyArgs& a) {
  StudySettings s;
  double v = 0;
  if (!parse_number(a.slo_attainment, &v) || !(v > 0 && v <= 1))
    throw Error(fmt::format("--slo-attainment \"{}\": expected a share in (0, 1], such as 0.99", a.slo_attainment));
  s.slo_target = v;
  if (a.jobs < 0 || a.jobs > 4096) throw Error(fmt::format("--jobs {}: expected 0 (all cores) to 4096 runs at a time", a.jobs));
  s.cores = study::online_cores();
  s.jobs = a.jobs > 0 ? static_cast<unsigned>(a.jobs) : s.cores;
  return s;
}

study::StudyOptions study_options(const StudyArgs& a, const StudySettings& st, const std::filesystem::path& out,
                                  const std::string& command) {
  study::StudyOptions so;
  so.out = out;
  so.sets = a.sets;
  so.rerun = a.rerun;
  so.progress = !a.quiet && ::isatty(2);
  so.command = command;
  so.slo_target = st.slo_target;
  return so;
}

void create_output_folder(const StudyArgs& a, const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  const std::string what = a.out.empty() ? fmt::format("the output folder {}", out.string()) : fmt::format("--out {}", a.out);
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_directory(out, ec))
    throw Error(fmt::format("{}: {} exists and is not a folder", what, out.string()));
  fs::create_directories(out, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder {}: {}", what, out.string(), ec.message()));
  if (::access(out.c_str(), W_OK | X_OK) != 0)
    throw Error(fmt::format("{}: cannot write in the folder {}: {}", what, out.string(), std::strerror(errno)));
}

}  // namespace chatdc::app
