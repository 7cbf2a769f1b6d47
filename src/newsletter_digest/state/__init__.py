"""State stage (at the ground): the SQLite database (issues, picks, deliveries) with
its migrations, one transaction per step, and the process lock.

Takes a path; gives a ``State`` whose writes happen only after the step they record.
"""
