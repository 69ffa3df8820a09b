"""Imported first by the local engine's fork server: one BLAS/OpenMP thread there, before numpy loads.

The fork server then imports the stage's modules (numpy, PyAV...) with one thread
each, and every worker it forks inherits that: its own
:func:`reelmatch.runtime.single_threaded` call has nothing left to do.

It also makes the server's exit immediate: when its parent is gone the server
raises ``SystemExit``, and tearing down numpy, PyAV and PIL then takes ~30 ms
during which the command is not over (its last process still runs). The server
holds no buffered output and no files to flush, and the workers it forked never
run exit handlers (they end with ``os._exit``), so an exit handler ending the
process at once loses nothing.
"""

import atexit
import os
import sys

from reelmatch.runtime import single_threaded

single_threaded(first_import=True)

if "multiprocessing.forkserver" in sys.modules and sys.argv[:1] == ["-c"]:  # in the fork server only
    atexit.register(os._exit, 0)
