# ngx_ws_module: build against Debian's nginx-dev, run the demo and the tests.
#
#   make demo     install what is missing, build, start the demo chat on
#                 127.0.0.1:8080 (docs/demo.md; util/demo stop ends it)
#   make test     install what is missing, build, run the Test::Nginx suite,
#                 then the wss subset again over TLS (util/run-tests-tls)
#   make test-tls       only the TLS run
#   make test-asan      the suite against nginx built from source with the
#                       module compiled in, under ASan + UBSan (build/asan)
#   make test-valgrind  some of the suite under valgrind (VALGRIND_TESTS)
#   make fuzz           the libFuzzer targets, FUZZ_TIME seconds each
#   make fuzz-coverage  llvm-cov line coverage of the module by the corpora
#
# NGINX_SRC may point at a plain nginx source tree instead of nginx-dev.

NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
BUILD       ?= $(CURDIR)/build
MODULE      := $(BUILD)/ngx_ws_module.so
CC_OPT      ?= -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
PROVE_ARGS  ?= -r t
TLS_ARGS    ?=
FUZZ_TIME   ?= 60
FUZZ_TARGETS ?=
VALGRIND_TESTS ?=

SRCS := config $(wildcard ngx_ws_module/*.c ngx_ws_module/*.h)

.PHONY: all build deps deps-demo deps-asan demo demo-stop test test-tls test-asan \
        test-valgrind fuzz fuzz-build fuzz-coverage clean

all: build

build: $(MODULE)

deps:
	@util/install-deps

deps-demo:
	@util/install-deps demo

deps-asan:
	@util/install-deps asan

$(MODULE): $(SRCS)
	util/build-module "$(NGINX_SRC)" "$(BUILD)" "$(CC_OPT)"

demo: deps-demo build
	util/demo start

demo-stop:
	util/demo stop

test: deps build
	util/run-tests $(PROVE_ARGS)
	util/run-tests-tls $(TLS_ARGS)

test-tls: deps build
	util/run-tests-tls $(TLS_ARGS)

test-asan: deps-asan
	BUILD="$(BUILD)" util/test-asan $(PROVE_ARGS)

test-valgrind: deps-asan build
	BUILD="$(BUILD)" util/test-valgrind $(VALGRIND_TESTS)

fuzz-build: deps-asan
	BUILD="$(BUILD)" util/build-fuzz $(FUZZ_TARGETS)

fuzz: deps-asan
	BUILD="$(BUILD)" FUZZ_TIME="$(FUZZ_TIME)" util/fuzz $(FUZZ_TARGETS)

fuzz-coverage: deps-asan
	BUILD="$(BUILD)" util/fuzz-coverage $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD) t/servroot*
