module hodegos.dev/ebpf-offsets-reference

go 1.18
