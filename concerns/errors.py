"""Domain errors raised by concern services. Views and the API turn them into
messages and status codes in one place; their text is written for the user."""


class ConcernError(Exception):
    """Base class: the message is safe to show to the person who acted."""


class IllegalTransition(ConcernError):
    pass


class NotAllowed(ConcernError):
    pass


class ConcernNotFound(ConcernError):
    pass


class ReceiptNotFound(ConcernError):
    pass


class RateLimited(ConcernError):
    pass


class InvalidInput(ConcernError):
    pass


class WrongAccessPhrase(InvalidInput):
    """The form that needs no sign-in was sent with a phrase that is not the
    organisation's."""
