"""Names the test plugins share with the tests that drive them.

Importing a plugin module registers its variants in the importing process; tests that only
need these names import them from here, so the test session's registry stays the ten
real implementations (test_protocol and test_gpu_suite enumerate it).
"""

# tests.plugins.cluster
PROBE_ERROR = "gpu probe: no training here"
MARKS_ENV = "GANBENCH_TRAINING_MARKS"
# tests.plugins.slowed
SLEEP_ENV = "GANBENCH_SLOWED_SLEEP_MS"  # GANBENCH_* reaches the worker processes
# tests.plugins.recording
RECORD_ENV = "GANBENCH_RECORDED_BATCHES"  # the JSON-lines file of staged batches
