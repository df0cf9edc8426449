# make test   the suite under gcc, clang, musl-gcc, ASan+UBSan, TSan and
#             valgrind, plus the header's compile checks; ends with the
#             total line "N passed, N failed"
# make bench  the benchmark table
# make fuzz   a bounded libFuzzer run on the server's message decoding
#
# The suite itself needs nothing but `cc -pthread test.c -o test`.

WARN = -Wall -Wextra -Werror
OPT = -O2 -g
SAN = -O1 -g -fno-omit-frame-pointer
FUZZ_SECONDS = 60

# Slower builds get proportionally longer per-test timeouts (and run a
# tenth of the heavy loops, see t_heavy in test.c).  A TSan report stops
# the test it happens in, so that it fails.
SUITES = test-gcc:1 test-clang:1 test-asan:4 test-tsan:6
ifneq ($(shell command -v musl-gcc 2>/dev/null),)
SUITES += test-musl:1
endif
# valgrind runs these tests only: it is 20-50 times slower.
VALGRIND_TESTS = start_stop launch_exec launch_errors launch_fd_mapping \
  launch_big waitpid waitpid_blocks_one_thread kill reap subreaper \
  c01_status_kinds c11_server_killed c14_child_inherits_nothing \
  fault_trust fault_stray_replies

all: test-gcc

test-gcc: test.c forkserver.h
	gcc -std=c99 $(WARN) $(OPT) -pthread test.c -o $@
test-clang: test.c forkserver.h
	clang -std=c99 $(WARN) $(OPT) -pthread test.c -o $@
test-musl: test.c forkserver.h
	musl-gcc -std=c99 $(WARN) $(OPT) test.c -o $@
test-asan: test.c forkserver.h
	clang -std=c99 $(WARN) $(SAN) -fsanitize=address,undefined \
	  -fno-sanitize-recover=all -pthread test.c -o $@
test-tsan: test.c forkserver.h
	clang -std=c99 $(WARN) $(SAN) -fsanitize=thread -pthread test.c -o $@

# The header alone, in every dialect a user might compile it in.
headers: forkserver.h
	@for c in "gcc c99" "clang c99" "gcc c11" "clang c11" "gcc c17" \
	  "clang c17" "g++ c++11" "clang++ c++11" "g++ c++20" "clang++ c++20"; \
	do set -- $$c; lang=c; case $$2 in c++*) lang=c++;; esac; \
	  for static in "" -DFORKSERVER_STATIC; do \
	    echo "$$1 -std=$$2 -pedantic $$static"; \
	    $$1 -std=$$2 -pedantic $(WARN) -fsyntax-only -x $$lang \
	      -DFORKSERVER_IMPLEMENTATION $$static forkserver.h || exit 1; \
	  done; done

test: headers $(foreach s,$(SUITES),$(firstword $(subst :, ,$(s)))) test-gcc
	@pass=0; fail=0; skip=0; \
	summarize() { line=$$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$$1" | \
	  tail -n 1); [ -n "$$line" ] || { echo "$$2: no result line"; \
	  fail=$$((fail + 1)); return; }; \
	  set -- $$(echo "$$line" | tr -dc '0-9 '); \
	  pass=$$((pass + $$1)); fail=$$((fail + $$2)); skip=$$((skip + $${3:-0})); }; \
	for s in $(SUITES); do bin=$${s%%:*}; slow=$${s##*:}; \
	  echo "== $$bin"; \
	  TSAN_OPTIONS=halt_on_error=1 FSRV_TEST_SLOW=$$slow ./$$bin \
	    > .out-$$bin 2>&1; \
	  grep -v -e '^ok ' -e ': ok$$' .out-$$bin; summarize .out-$$bin $$bin; done; \
	echo "== test-gcc, the server exec'd as its own program"; \
	FSRV_TEST_EXECD=1 ./test-gcc > .out-execd 2>&1; \
	grep -v -e '^ok ' -e ': ok$$' .out-execd; summarize .out-execd execd; \
	if command -v valgrind >/dev/null; then echo "== valgrind test-gcc"; \
	  FSRV_TEST_SLOW=20 valgrind -q --error-exitcode=99 --leak-check=full \
	    ./test-gcc $(VALGRIND_TESTS) > .out-valgrind 2>&1; \
	  grep -v -e '^ok ' -e ': ok$$' .out-valgrind; summarize .out-valgrind valgrind; \
	else echo "valgrind not installed: its run is not counted"; fi; \
	rm -f .out-*; \
	echo "$$pass passed, $$fail failed$$( [ $$skip = 0 ] || echo ", $$skip skipped")"; \
	[ $$fail = 0 ]

bench: test-gcc
	./test-gcc --bench

fuzz: test.c forkserver.h
	clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined \
	  -DFSRV_FUZZ test.c -o fuzz-decode
	mkdir -p .fuzz-corpus
	./fuzz-decode -max_total_time=$(FUZZ_SECONDS) -max_len=4096 .fuzz-corpus

clean:
	rm -rf test test-* fuzz-* .fuzz-corpus .out-*

.PHONY: all test headers bench fuzz clean
