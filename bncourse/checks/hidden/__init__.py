"""Hidden case parameters, one module per assignment (instructor-only).

Learners can read *what* is checked (``bncourse/checks/bnNN_topic.py``); the exact inputs
the grader scores on live here. The student pack leaves this folder out; changing a seed
or a shape here changes no diagnosis (the checks hold for any inputs of the same kind).
"""
