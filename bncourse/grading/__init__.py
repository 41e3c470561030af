"""The grading engine behind ``bncourse.grade`` (``make grade``).

Modules, in the order a submission meets them:

``submission``
    find the learner's notebooks (renamed files too), read them (damaged files too) and repair
    them against the released notebook: re-attach stripped nbgrader metadata, undo edits to
    locked cells, put deleted cells back.
``integrity``
    refuse credit gained by calling the reference (``bnref``) or by tampering with what the
    tests compare against: a static scan of the learner's code plus a guard that runs in the
    kernel before every test cell.
``execute``
    run a notebook in a sandboxed kernel (scrubbed environment, temporary HOME and working
    directory, memory limit), cell by cell, surviving timeouts and kernel deaths.
``feedback``
    render the learner's HTML feedback without hidden-test source, plus the grading log.
``worker``
    grade one (student, assignment) in a worker process; returns plain data.
``gradebook``
    the single writer: copy the assignment out of the course gradebook for the workers, and
    write the workers' results back into it.
"""
