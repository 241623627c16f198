"""Grade a student's numpy homework against qgen's verified reference.

    pytest examples/autograde                                  # student_correct.py: passes
    AUTOGRADE_STUDENT=student_buggy pytest examples/autograde  # fails, shrunk example

Each property test is one line: verify.checks draws networks, layer geometries and
stacks with Hypothesis, calls the student's function and compares with the reference;
on a failure Hypothesis shrinks to a minimal failing example and prints it.
"""

from verify.checks import (
    assert_conv_output_size_matches,
    assert_pool_output_size_matches,
    assert_receptive_field_matches,
    assert_sgd_step_matches,
    check_sgd_step,
)

# The homework's question 2, as it is printed: the fixed case every submission must get.
HOMEWORK_Q2 = {
    "x": [0.1, 0.7], "y": [0, 1.0], "lr": 0.01, "loss": "bce",
    "layers": [
        {"W": [[0.1, 0.3, 0.4], [0.2, 0.2, 0.1]], "b": [0.31416, -0.27182, 0.186282],
         "activation": "sigmoid"},
        {"W": [[0.3, 0.1], [0.5, 0.6], [0.2, 0.7]], "b": [1.618, 0.1729],
         "activation": "sigmoid"},
    ],
}


def test_homework_question_2(student):
    check_sgd_step(student.sgd_step, HOMEWORK_Q2)


def test_sgd_step_matches_reference(student):
    # Sigmoid networks of 1-3 layers with bce loss and one sample, as the homework.
    assert_sgd_step_matches(student.sgd_step)


def test_conv_output_size_matches_reference(student):
    assert_conv_output_size_matches(student.conv_output_size)


def test_pool_output_size_matches_reference(student):
    assert_pool_output_size_matches(student.pool_output_size, max_dilation=2)


def test_receptive_field_matches_reference(student):
    assert_receptive_field_matches(student.receptive_field)
