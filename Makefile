# pgapp: make run | make test | make bench | make psql | make fuzz | make soak
PG ?= 15
export PG

.PHONY: all run test bench soak fuzz psql extension gateway security-report clean ci format

all: extension gateway

extension:
	$(MAKE) -C extension PG_CONFIG=/usr/lib/postgresql/$(PG)/bin/pg_config

gateway:
	$(MAKE) -C gateway

run:
	@scripts/run.sh

test:
	@scripts/test.sh

bench:
	@bench/run.sh

soak:
	@bench/soak.sh

fuzz:
	@scripts/deps.sh && FUZZ_SECONDS=$${FUZZ_SECONDS:-120} scripts/suite-fuzz.sh

psql:
	@scripts/run.sh psql

security-report:
	@scripts/security-report.sh

# Format every tracked C file with the root .clang-format (the lint suite checks it).
format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	$(MAKE) -C extension clean PG_CONFIG=/usr/lib/postgresql/$(PG)/bin/pg_config
	$(MAKE) -C gateway clean

# What CI runs: make test on PostgreSQL 15, then 13 and 17 (chroots, root only).
ci:
	@.ci/run
