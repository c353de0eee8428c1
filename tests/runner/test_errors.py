from runner.errors import describe_error, innermost


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_an_exception_is_described_by_its_type_and_message() -> None:
    assert describe_error(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"


def test_an_exception_without_a_message_is_described_by_its_type_alone() -> None:
    assert describe_error(KeyboardInterrupt()) == "KeyboardInterrupt"


def test_an_exception_whose_message_fails_is_still_named() -> None:
    assert describe_error(Unprintable()) == "Unprintable: <message could not be shown>"


def test_innermost_unwraps_groups_of_one() -> None:
    cause = ValueError("bad")
    assert describe_error(innermost(ExceptionGroup("outer", [ExceptionGroup("inner", [cause])]))) == "ValueError: bad"
