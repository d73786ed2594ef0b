"""What every bench shares: engines it may restart, the simulator in a child process, the stack of
blazecast processes, CPU and memory sampling, and writing results.

- :mod:`.engines`: ``BenchEngines``: embedded Postgres and Redis under ``.blazecast/bench/<name>``.
- :mod:`.simproc`: ``SimulatorProcess``: ``python -m simulator`` driven over ``/_sim/``.
- :mod:`.stack`: ``BenchStack``: engines + simulator + worker, beat and listener processes.
- :mod:`.population`: seeded users files and fast recipient import (``COPY``).
- :mod:`.sampling`: CPU seconds and RSS per component, sampled with psutil.
- :mod:`.profiling`: ``PySpy``: where the time goes in live processes, by layer and call site.
- :mod:`.results`: the JSON every bench writes (machine, load average) and the summary line.
"""
