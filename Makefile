# branchy — plain GNU make.
#
#   make            library + bin/branchy
#   make test       the Catch2 suite (installs missing Debian packages first)
#   make test SANITIZE=1   the same suite under AddressSanitizer + UBSan (also: make asan)
#   make test-pytorch  all five networks against PyTorch: logits of every exit, one joint step's gradients
#   make bench      every benchmark of docs/BENCHMARKS.md (~25 min, quiet machine); its parts:
#     bench-kernels kernel benchmarks (GFLOP/s and ratio to cblas_sgemm)
#     bench-onednn  Conv2d against oneDNN on the networks' conv shapes (installs libdnnl-dev
#                   when missing; only this benchmark links oneDNN, never the library)
#     bench-train   training images/s of the five networks beside PyTorch, 1 and 2 threads
#     bench-infer   batch-1 latency, routing overhead, batch-256 throughput beside PyTorch
#   make fuzz       every parser under libFuzzer, FUZZ_SECONDS each (make fuzz-smoke: a few seconds each)
#   make demo       trains a branchy network on Fashion-MNIST and compares policies
#   make results    trains the five networks by their recipes, every policy on each, the headroom map, the feature sets (hours)
#   make deps       installs the Debian packages that are missing
#   make MPI=1      bin/branchy built with mpicxx: `mpirun -np N bin/branchy train|eval ...` splits the work
#                   over N processes (docs/DISTRIBUTED.md); make test MPI=1 also runs tests/mpi/run_mpi_tests.sh
#   make test-mpi   only the MPI tests (builds with MPI=1)
#   make clean      removes build/ and bin/branchy; trained models in runs/ stay
#
# Switches: ARCH=native|x86-64-v3|...  SANITIZE=0|1  MPI=0|1  BUILD=dir  OPTFLAGS=-O0 (quick builds)  TEST_ARGS="[tag]"
#           BENCH_ARGS="--quick --csv FILE --only TEXT"  BENCH_PEER_ARGS (the same flags)  DEMO_EPOCHS=n

ARCH     ?= native
SANITIZE ?= 0
MPI      ?= 0
CXX      ?= g++
SHELL    := /bin/bash

# MPI=1: mpicxx compiles and links everything; engine/mpi/world_mpi.cpp takes
# the place of engine/world_single_process.cpp (engine/communicator.h), the
# only difference in the sources. Its own build folder keeps the objects apart.
ifeq ($(MPI),1)
  CXX := mpicxx
  ifeq ($(SANITIZE),1)
    BUILD ?= build/mpi-sanitize
  else
    BUILD ?= build/mpi
  endif
endif

ifeq ($(SANITIZE),1)
  BUILD    ?= build/sanitize
  # -Wno-maybe-uninitialized: GCC 12 at -O1 with sanitizers misreports std::regex
  # and std::function internals (libstdc++ headers, not our code).
  OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -Wno-maybe-uninitialized
  LDSAN    := -fsanitize=address,undefined
else
  BUILD    ?= build/release
  OPTFLAGS := -O3 -march=$(ARCH) -g1
  LDSAN    :=
endif

CXXFLAGS ?=
# -Wno-restrict: GCC 12 at -O3 reports std::string assignments as overlapping
# memcpy (GCC bug 105329), a false positive inside libstdc++.
# -fno-math-errno: nothing reads errno after sqrt/exp/log, and without it GCC
# cannot vectorise loops that call them.
CXXFLAGS += -std=c++20 -Wall -Wextra -Werror -Wno-restrict -fno-math-errno -fopenmp -I. -I/usr/include/stb $(OPTFLAGS) -MMD -MP
LDLIBS   := -lopenblas -lstb -lz -lm
LDFLAGS  += -fopenmp $(LDSAN)

LIB_SOURCES   := $(wildcard engine/*.cpp formats/*.cpp report/*.cpp layers/*.cpp datasets/*.cpp nets/*.cpp predictors/*.cpp pipeline/*.cpp)
ifeq ($(MPI),1)
  LIB_SOURCES := $(filter-out engine/world_single_process.cpp,$(LIB_SOURCES)) engine/mpi/world_mpi.cpp
endif
BIN_SOURCES   := $(wildcard bin/*.cpp)
# The commands and their command line, without main(): also linked into the
# tests, which run the parser in-process (tests/test_cli.cpp).
CLI_SOURCES   := $(filter-out bin/branchy.cpp,$(BIN_SOURCES))
TEST_SOURCES  := $(wildcard tests/*.cpp)
BENCH_SOURCES := $(wildcard tests/bench/*.cpp)

LIB_OBJECTS   := $(LIB_SOURCES:%.cpp=$(BUILD)/%.o)
BIN_OBJECTS   := $(BIN_SOURCES:%.cpp=$(BUILD)/%.o)
CLI_OBJECTS   := $(CLI_SOURCES:%.cpp=$(BUILD)/%.o)
TEST_OBJECTS  := $(TEST_SOURCES:%.cpp=$(BUILD)/%.o)
BENCH_OBJECTS := $(BENCH_SOURCES:%.cpp=$(BUILD)/%.o)

LIBRARY    := $(BUILD)/libbranchy.a
# The MPI tests' checkpoint comparer (tests/mpi/compare_models.cpp).
COMPARE_BIN := $(BUILD)/compare_models
BRANCHY    := $(BUILD)/branchy
TEST_BIN   := $(BUILD)/run_tests
BENCH_BIN  := $(BUILD)/bench_kernels

DEB_PACKAGES := g++ make libopenblas-dev libxsimd-dev catch2 libstb-dev zlib1g-dev nlohmann-json3-dev libcli11-dev dataset-fashion-mnist
ifeq ($(MPI),1)
  DEB_PACKAGES += libopenmpi-dev openmpi-bin
endif

.PHONY: all deps test test-mpi mpi-tests test-pytorch asan errors-doc bench bench-kernels bench-train bench-infer bench-onednn onednn-deps pytorch-deps demo results clean fuzz fuzz-build fuzz-smoke fuzz-deps
.DEFAULT_GOAL := all

all: $(BRANCHY)
	@mkdir -p bin && ln -sf ../$(BRANCHY) bin/branchy

# Installs the Debian packages $(1) that are missing (as root), or prints the
# apt-get line to run.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing || exit 1; \
	  else \
	    echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

$(BUILD)/%.o: %.cpp Makefile | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIBRARY): $(LIB_OBJECTS)
	@rm -f $@
	ar rcs $@ $^

$(BRANCHY): $(BIN_OBJECTS) $(LIBRARY)
	$(CXX) $(LDFLAGS) $(BIN_OBJECTS) $(LIBRARY) $(LDLIBS) -o $@

$(TEST_BIN): $(TEST_OBJECTS) $(CLI_OBJECTS) $(LIBRARY)
	$(CXX) $(LDFLAGS) $(TEST_OBJECTS) $(CLI_OBJECTS) $(LIBRARY) $(LDLIBS) -o $@

$(BENCH_BIN): $(BENCH_OBJECTS) $(LIBRARY)
	$(CXX) $(LDFLAGS) $(BENCH_OBJECTS) $(LIBRARY) $(LDLIBS) -o $@

$(COMPARE_BIN): $(BUILD)/tests/mpi/compare_models.o $(LIBRARY)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Catch2's own summary, then one plain "N passed, N failed" line for CI.
# BRANCHY_BINARY: the program that tests/test_kill_resume.cpp runs and kills.
test: $(TEST_BIN) all $(if $(filter 1,$(MPI)),$(COMPARE_BIN))
	@set -o pipefail; BRANCHY_BINARY=$(abspath $(BRANCHY)) $(TEST_BIN) $(TEST_ARGS) 2>&1 | tee $(BUILD)/test.log; status=$$?; \
	passed=$$(grep -oE '^All tests passed \(([0-9]+) assertions? in ([0-9]+) test cases?\)' $(BUILD)/test.log | grep -oE '[0-9]+ test' | grep -oE '[0-9]+'); \
	if [ -n "$$passed" ]; then echo "tests: $$passed passed, 0 failed"; \
	else line=$$(grep -E '^test cases:' $(BUILD)/test.log | tail -1); \
	  p=$$(echo "$$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'); f=$$(echo "$$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+'); \
	  echo "tests: $${p:-0} passed, $${f:-0} failed"; fi; exit $$status
ifeq ($(MPI),1)
	bash tests/mpi/run_mpi_tests.sh $(BRANCHY) $(COMPARE_BIN)
endif

# The MPI tests alone: 1 and 2 ranks on this machine (tests/mpi/run_mpi_tests.sh).
test-mpi:
	$(MAKE) MPI=1 mpi-tests
mpi-tests: all $(COMPARE_BIN)
	bash tests/mpi/run_mpi_tests.sh $(BRANCHY) $(COMPARE_BIN)

asan:
	$(MAKE) test SANITIZE=1

# docs/ERRORS.md's table, rewritten from what the program prints now
# (tests/test_error_matrix.cpp checks it in `make test`).
errors-doc: $(TEST_BIN)
	BRANCHY_WRITE_ERRORS_DOC=1 $(TEST_BIN) "[errors]"

# The whole-network oracle (tests/reference/check_networks_pytorch.py): the
# test binary's hidden [.pytorch] case writes each network's weights, a batch,
# its logits and gradients; PyTorch rebuilds the network and recomputes them.
# Installs Debian's python3-torch when missing (as root), like `make deps`.
test-pytorch: $(TEST_BIN)
	@if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian package: python3-torch"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-torch || exit 1; \
	  else \
	    echo "PyTorch is missing; run: sudo apt-get install -y python3-torch"; exit 1; \
	  fi; \
	fi
	OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/reference/check_networks_pytorch.py $(TEST_BIN)

# `make bench` measures everything docs/BENCHMARKS.md reports, in one run
# (~25 min on 2 cores; run it on a quiet machine): the kernels against sgemm,
# the convolutions against oneDNN, then, with Debian's python3-torch
# (installed when missing, as root), training and inference of the five
# networks beside PyTorch. Tables land in build/bench/. `make bench-kernels`,
# `bench-onednn`, `bench-train`, `bench-infer` run one part.
bench: bench-kernels bench-onednn bench-train bench-infer

bench-kernels: $(BENCH_BIN)
	@mkdir -p build/bench
	$(BENCH_BIN) --csv build/bench/kernels.csv $(BENCH_ARGS) | tee build/bench/kernels.txt

pytorch-deps:
	$(call install_missing,python3-torch)

bench-train: all pytorch-deps
	python3 docs/scripts/train_speed.py $(BENCH_TRAIN_ARGS)

# Uses the models bench-train left in build/bench.
bench-infer: all pytorch-deps
	python3 docs/scripts/infer_speed.py $(BENCH_INFER_ARGS)

# oneDNN as a benchmark peer (tests/bench_peers/conv_vs_onednn.cpp says what
# it measures): Debian's libdnnl-dev, installed here only when its header is
# missing. Only this binary includes or links oneDNN; libbranchy.a and every
# other target build without it.
ONEDNN_HEADER     := /usr/include/oneapi/dnnl/dnnl.hpp
BENCH_PEER_OBJECT := $(BUILD)/tests/bench_peers/conv_vs_onednn.o
BENCH_PEER_BIN    := $(BUILD)/bench_conv_vs_onednn

onednn-deps:
ifeq ($(wildcard $(ONEDNN_HEADER)),)
	$(call install_missing,libdnnl-dev)
endif

$(BENCH_PEER_OBJECT): | onednn-deps

$(BENCH_PEER_BIN): $(BENCH_PEER_OBJECT) $(LIBRARY)
	$(CXX) $(LDFLAGS) $^ -ldnnl $(LDLIBS) -o $@

bench-onednn: $(BENCH_PEER_BIN)
	@mkdir -p build/bench
	$(BENCH_PEER_BIN) --csv build/bench/onednn.csv $(BENCH_PEER_ARGS) | tee build/bench/onednn.txt

# The main job: train B-LeNet on Fashion-MNIST long enough that the exits mix
# (10 epochs), calibrate its entropy thresholds on the validation split, fit
# every predictor of the thesis, and compare every policy on the test split.
DEMO_DIR    ?= runs/demo
DEMO_EPOCHS ?= 10
DEMO_PREDICTORS := "exit --placement first" "exit --placement input" "exit --placement each" \
                   "skip --placement each" "entropy --placement each"
demo: all
	./bin/branchy train --net b-lenet --data fashion-mnist --epochs $(DEMO_EPOCHS) --threads 2 --out $(DEMO_DIR) $(DEMO_ARGS)
	./bin/branchy calibrate $(DEMO_DIR)/model.safetensors --threads 2
	@for predictor in $(DEMO_PREDICTORS); do \
	  echo "./bin/branchy fit-predictor $(DEMO_DIR)/model.safetensors --kind $$predictor"; \
	  ./bin/branchy fit-predictor $(DEMO_DIR)/model.safetensors --kind $$predictor --threads 2 || exit 1; \
	done
	./bin/branchy eval $(DEMO_DIR)/model.safetensors --policy all --threads 1 --trace $(DEMO_DIR)/trace.csv

# Issue 10's study, resumable network by network (trained models are reused):
# the five networks trained by their recipes (about 20 minutes each on 2
# cores, b-lenet 2), every policy on each, then the headroom map: first
# branches of five widths on the trained B-ResNet trunk (about 8 minutes
# each), then the feature sets of the predictors on two of its widths
# (runs/headroom/features/). Outputs in runs/results/ and runs/headroom/;
# docs/RESULTS.md shows them. RESULTS_ARGS="--nets b-lenet,b-resnet" or
# "--epochs 2" for a quick look.
results: all
	python3 docs/scripts/five_networks.py $(RESULTS_ARGS)
	python3 docs/scripts/headroom_map.py $(HEADROOM_ARGS)
	python3 docs/scripts/feature_sets.py $(FEATURE_ARGS)

# ---- fuzzing (libFuzzer, from Debian's clang) --------------------------------
# Every parser under AddressSanitizer + UBSan with a memory limit, so a
# resource bomb is a finding, not a pass (tests/fuzz_targets.h says what each
# target runs). `make fuzz` runs each target FUZZ_SECONDS; `make fuzz-smoke`
# a few seconds each (CI). Findings land in build/fuzz/findings/; copy one
# into tests/fuzz/findings/TARGET/ and the normal suite replays it forever.
FUZZ_TARGETS  := idx cifar image model cli
FUZZ_SECONDS  ?= 300
FUZZ_RSS_MB   ?= 512
FUZZ_CXX      := clang++-14
FUZZ_BUILD    := build/fuzz
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev libomp-14-dev
FUZZ_CXXFLAGS := -std=c++20 -Wall -Wextra -Werror -Wno-unknown-warning-option -fopenmp -I. -I/usr/include/stb -Itests -O1 -g \
                 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -MMD -MP \
                 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_SOURCES  := $(LIB_SOURCES) $(CLI_SOURCES) tests/fuzz_targets.cpp
FUZZ_OBJECTS  := $(FUZZ_SOURCES:%.cpp=$(FUZZ_BUILD)/%.o)
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz-deps:
	$(call install_missing,$(FUZZ_PACKAGES))

$(FUZZ_BUILD)/%.o: %.cpp Makefile | deps fuzz-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_main.cpp $(FUZZ_OBJECTS)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer -DFUZZ_TARGET=$* $< $(FUZZ_OBJECTS) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

# Each target starts from its seeds (tests/fuzz/seeds/TARGET) and keeps what
# it learns in build/fuzz/corpus/TARGET between runs.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/findings; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/corpus/$$t tests/fuzz/seeds/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_RSS_MB) -timeout=10 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/findings/$$t- 2>$(FUZZ_BUILD)/fuzz_$$t.log || { tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_BUILD)/fuzz_$$t.log | tr '\n' ' '; echo; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=8

clean:
	rm -rf build bin/branchy

-include $(LIB_OBJECTS:.o=.d) $(BIN_OBJECTS:.o=.d) $(TEST_OBJECTS:.o=.d) $(BENCH_OBJECTS:.o=.d) $(BENCH_PEER_OBJECT:.o=.d) $(FUZZ_OBJECTS:.o=.d) $(BUILD)/tests/mpi/compare_models.d
