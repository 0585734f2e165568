# Zoo against PyTorch (bench/README.md): `make bench`, or `make bench ARGS=--quick`.
.PHONY: bench
bench:
	bench/run.sh $(ARGS)
