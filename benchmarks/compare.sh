#!/usr/bin/env bash
# Reruns the headline benchmarks (BenchmarkDotNet --job short, one thread) and prints each beside the number
# docs/benchmarks.md documents, with the ratio, after a line naming this machine's CPU, vector ISA and runtime.
# Extra arguments go to BenchmarkDotNet. To measure without AVX-512 on a machine that has it (.NET 10's knob; the
# older DOTNET_EnableAVX512F=0 is ignored there):  DOTNET_EnableAVX512=0 benchmarks/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec dotnet run -c Release --project benchmarks/Wasserflow.Benchmarks -- compare "$@"
