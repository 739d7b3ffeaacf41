module hodegos.dev/benchmarks/loadgen

go 1.19
