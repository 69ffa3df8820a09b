"""Imported first by the local engine's fork server: one BLAS/OpenMP thread there, before numpy loads.

The fork server then imports the stage's modules (numpy, PyAV...) with one thread
each, and every worker it forks inherits that: its own
:func:`reelmatch.runtime.single_threaded` call has nothing left to do.
"""

from reelmatch.runtime import single_threaded

single_threaded(first_import=True)
