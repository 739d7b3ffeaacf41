module hodegos.local/demo/inventory

go 1.22
