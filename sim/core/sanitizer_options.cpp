// Sanitizer build only (CHATDC_SANITIZE, README "Tests"): defaults every chatdc binary gives the sanitizer
// runtimes, so that ctest, the corpus runner and the fuzzers need no environment.
//   LeakSanitizer: SimGrid keeps some global state (platform, configuration, context factories) until the
//   process exits without freeing it; allocations made inside libsimgrid are not reported, every other
//   allocation (all of chatdc's) is checked. SimGrid runs actors on threads in this build (run_context.cpp),
//   so LeakSanitizer sees every stack.
//   UBSan: print the stack of a report (the build already aborts on the first one).
// Compiled into every target that links chatdc_core (an INTERFACE source of chatdc_core).
#ifdef CHATDC_SANITIZE
extern "C" const char* __lsan_default_suppressions() { return "leak:libsimgrid.so\n"; }
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1"; }
#endif
