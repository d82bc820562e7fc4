// End-to-end: `chatdc platform SCENARIO --xml FILE` writes a SimGrid XML platform, whole or not at all.
#include <catch2/catch.hpp>

#include "e2e/harness.hpp"

using namespace chatdc::test;

TEST_CASE("chatdc platform writes the scenario's SimGrid XML platform") {
  const auto dir = scratch("platform");
  const auto xml = dir / "p.xml";
  const Proc p = run("platform " + fixture("tiny.yaml") + " --xml " + xml.string());
  CHECK(p.code == 0);
  CHECK_THAT(p.out, Catch::Contains(xml.string()));
  const std::string text = slurp(xml);
  CHECK(text.rfind("<?xml", 0) == 0);
  CHECK_THAT(text, Catch::Contains("<platform version=\"4.1\">"));
  CHECK_THAT(text, Catch::Contains("<host id=\"east-1-r0-s1\""));
  CHECK_THAT(text, Catch::Contains("wattage_per_state"));
  // Nothing but the file itself is left in the folder (no temporary file).
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 1);

  // --set applies as in `chatdc run`.
  const Proc q = run("platform " + fixture("tiny.yaml") + " --set platform.regions[0].datacenters[east-1].racks=2 --xml " +
                     xml.string());
  CHECK(q.code == 0);
  CHECK_THAT(slurp(xml), Catch::Contains("<host id=\"east-1-r1-s1\""));
  std::filesystem::remove_all(dir);
}

TEST_CASE("chatdc platform: a bad scenario exits 2 and writes no file") {
  const auto dir = scratch("platform-bad");
  const auto xml = dir / "p.xml";
  const Proc p = run("platform no/such/file.yaml --xml " + xml.string());
  CHECK(p.code == 2);
  CHECK_THAT(p.err, Catch::Contains("no/such/file.yaml"));
  CHECK_FALSE(std::filesystem::exists(xml));
  CHECK(std::filesystem::is_empty(dir));
  CHECK(run("platform " + fixture("tiny.yaml")).code != 0);  // --xml is required
  std::filesystem::remove_all(dir);
}
