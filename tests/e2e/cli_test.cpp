#include <catch2/catch.hpp>
#include <unistd.h>

#include "e2e/harness.hpp"

using namespace chatdc::test;

TEST_CASE("chatdc --help and run --help explain every option") {
  const Proc top = run("--help");
  CHECK(top.code == 0);
  CHECK_THAT(top.out, Catch::Contains("run"));
  const Proc r = run("run --help");
  CHECK(r.code == 0);
  for (const char* opt : {"--out", "--set", "--no-progress", "--quiet", "scenario"}) CHECK_THAT(r.out, Catch::Contains(opt));
}

TEST_CASE("CLI errors: missing scenario file, unknown option, no subcommand") {
  const Proc missing = run("run no/such/file.yaml");
  CHECK(missing.code == 2);
  CHECK_THAT(missing.err, Catch::Contains("no/such/file.yaml: cannot open the file"));
  const Proc unknown = run("run " + fixture("tiny.yaml") + " --frobnicate");
  CHECK(unknown.code != 0);
  CHECK_THAT(unknown.err, Catch::Contains("--frobnicate"));
  CHECK(run("").code != 0);
}

TEST_CASE("CLI error: a malformed --set names itself") {
  const Proc p = run("run " + fixture("tiny.yaml") + " --set workload");
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("--set workload: expected KEY.PATH=VALUE"));
}

TEST_CASE("a run prints its wall time and simulated requests per wall-second") {
  const auto out = scratch("cli-run");
  const Proc p = run("run " + fixture("tiny.yaml") + " --set run.duration_h=1 --out " + out.string());
  CHECK(p.code == 0);
  CHECK_THAT(p.out, Catch::Contains("s wall ("));
  CHECK_THAT(p.out, Catch::Contains("M requests per wall-second"));
  CHECK_THAT(p.out, Catch::Contains(out.string()));
}
