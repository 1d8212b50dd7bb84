"""Stan without pystan: the marginal flagship's Stan program in small C++ programs.

pystan runs Stan's own sampler (``stan::services::sample::hmc_nuts_diag_e_adapt``) in
httpstan's chain processes, which write every kept draw as a JSON message to a socket
from inside the chain; httpstan's server reads, compresses and caches them, and pystan
fetches and parses them. To see what Stan itself costs, these programs call the same
Stan code directly:

* :data:`GRADIENT` times ``stan::model::log_prob_grad<true, true>`` (what NUTS calls:
  ``propto``, with the Jacobian) in a loop;
* :data:`SAMPLER` runs ``hmc_nuts_diag_e_adapt`` with the arguments httpstan passes
  (and pystan's defaults), keeping the draws in memory (a vector of rows, as nutpie
  keeps its draws in memory) and writing them to a CSV file only after the chain's
  clock has stopped. With the same seed and chain number, Stan's random number
  generator (``create_rng(seed, chain)``) gives the same chain as pystan's.

Both are translated by httpstan's own ``stanc`` and compiled by ``g++`` against
httpstan's Stan headers with httpstan's flags (``-O3``, ``STAN_THREADS``), once, into
``$XDG_CACHE_HOME/milkbayes-bench`` under a hash of the Stan program and the C++ code
(about a minute each).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

FLAGS = (
    "-O3",
    "-std=c++17",
    "-Wno-sign-compare",
    "-DBOOST_DISABLE_ASSERTS",
    "-DBOOST_PHOENIX_NO_VARIADIC_EXPRESSION",
    "-DSTAN_THREADS",
    "-D_REENTRANT",
    "-D_GLIBCXX_USE_CXX11_ABI=0",
)
"""httpstan's compiler flags and macros (``httpstan.models``)."""

GRADIENT = r"""
#include "model.hpp"
#include <stan/io/json/json_data.hpp>
#include <stan/model/log_prob_grad.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

// argv: data.json, calls per repetition, repetitions; prints one line per repetition:
// microseconds per log_prob_grad call, every unconstrained coordinate at 0.1.
int main(int argc, char** argv) {
  std::ifstream in(argv[1]);
  stan::json::json_data data(in);
  stan_model model(data, 0, &std::cout);
  const long calls = std::stol(argv[2]);
  const int repeats = std::stoi(argv[3]);
  std::vector<double> x(model.num_params_r(), 0.1);
  std::vector<int> xi;
  std::vector<double> g(x.size());
  double sink = 0;
  for (int i = 0; i < 10000; ++i) sink += stan::model::log_prob_grad<true, true>(model, x, xi, g);
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < calls; ++i)
      sink += stan::model::log_prob_grad<true, true>(model, x, xi, g);
    auto t1 = std::chrono::steady_clock::now();
    std::cout << std::chrono::duration<double>(t1 - t0).count() / calls * 1e6 << "\n";
  }
  std::cerr << "n_params " << x.size() << " sink " << sink << "\n";
  return 0;
}
"""

SAMPLER = r"""
#include "model.hpp"
#include <stan/callbacks/interrupt.hpp>
#include <stan/callbacks/logger.hpp>
#include <stan/callbacks/writer.hpp>
#include <stan/io/empty_var_context.hpp>
#include <stan/io/json/json_data.hpp>
#include <stan/services/sample/hmc_nuts_diag_e_adapt.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

// Keeps the sampler's rows (sampler values and constrained parameters) in memory.
struct memory_writer : stan::callbacks::writer {
  using stan::callbacks::writer::operator();
  std::vector<std::string> names;
  std::vector<std::vector<double>> rows;
  void operator()(const std::vector<std::string>& n) override { names = n; }
  void operator()(const std::vector<double>& state) override { rows.push_back(state); }
};

// argv: data.json, seed, first chain, number of chains, warm-up, draws, delta, out prefix.
// Runs the chains one after the other; prints "chain <id> <seconds>" per chain, the
// seconds of the sampler call alone; writes <prefix><id>.csv (warm-up rows included)
// after each chain's clock has stopped.
int main(int argc, char** argv) {
  std::ifstream in(argv[1]);
  stan::json::json_data data(in);
  const unsigned int seed = std::stoul(argv[2]);
  const unsigned int first = std::stoul(argv[3]);
  const int chains = std::stoi(argv[4]);
  const int warmup = std::stoi(argv[5]);
  const int draws = std::stoi(argv[6]);
  const double delta = std::stod(argv[7]);
  const std::string prefix = argv[8];
  stan_model model(data, seed, &std::cerr);
  stan::io::empty_var_context init;
  stan::callbacks::interrupt interrupt;
  stan::callbacks::logger logger;
  for (unsigned int chain = first; chain < first + chains; ++chain) {
    memory_writer sample;
    sample.rows.reserve(warmup + draws);
    stan::callbacks::writer init_writer, diagnostic;
    auto t0 = std::chrono::steady_clock::now();
    int code = stan::services::sample::hmc_nuts_diag_e_adapt(
        model, init, seed, chain, 2.0, warmup, draws, 1, true, 0, 1.0, 0.0, 10, delta,
        0.05, 0.75, 10.0, 75, 50, 25, interrupt, logger, init_writer, sample, diagnostic);
    auto t1 = std::chrono::steady_clock::now();
    if (code != 0) return code;
    std::cout << "chain " << chain << " " << std::chrono::duration<double>(t1 - t0).count()
              << std::endl;
    std::ofstream out(prefix + std::to_string(chain) + ".csv");
    out.precision(17);
    for (size_t i = 0; i < sample.names.size(); ++i)
      out << (i ? "," : "") << sample.names[i];
    out << "\n";
    for (const auto& row : sample.rows) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << row[i];
      out << "\n";
    }
  }
  return 0;
}
"""


def build(stan_file: Path, harness: str) -> Path:
    """The compiled program for ``stan_file`` and ``harness`` (built once, then cached)."""
    import httpstan

    package = Path(httpstan.__file__).resolve().parent
    program = stan_file.read_text()
    key = hashlib.sha256((program + harness + " ".join(FLAGS)).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    where = cache / "milkbayes-bench" / f"stan_{stan_file.stem}_{key}"
    binary = where / "harness"
    if binary.exists():
        return binary
    where.mkdir(parents=True, exist_ok=True)
    (where / "model.stan").write_text(program)
    subprocess.run([str(package / "stanc"), "model.stan", "--o=model.hpp"], cwd=where, check=True)
    (where / "harness.cpp").write_text(harness)
    print(f"building {binary} (about a minute) ...", flush=True)
    subprocess.run(
        [
            os.environ.get("CXX", "g++"),
            *FLAGS,
            "-I.",
            f"-I{package / 'include'}",
            "harness.cpp",
            "-o",
            "harness.tmp",
            f"-L{package / 'lib'}",
            "-ltbb",
            f"-Wl,-rpath,{package / 'lib'}",
        ],
        cwd=where,
        check=True,
    )
    (where / "harness.tmp").rename(binary)  # a cut-short build leaves no binary
    return binary


def write_data(directory: Path, data: dict) -> Path:
    """The Stan data as a JSON file in ``directory``."""
    path = directory / "data.json"
    path.write_text(json.dumps(data))
    return path
