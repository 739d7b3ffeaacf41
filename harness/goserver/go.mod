module hodegos.test/goserver

go 1.19
