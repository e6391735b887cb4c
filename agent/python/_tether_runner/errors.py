"""Failures reported to the agent as a RemoteError.

Failures that are not user code raising have these types (the agent maps
the first two to a gRPC status):
  tether.InvalidPayload     the payload cannot be decoded or has the wrong
                            shape
  tether.ResultTooLarge     the encoded result does not fit in a frame
  tether.ProtocolError      a frame that cannot be decoded, or out of order
  tether.ZygoteUnsupported  this Python cannot run a zygote
  tether.StreamRequired     a unary call returned a generator (call it with
                            InvokeStream)
"""

import traceback

INVALID_PAYLOAD = "tether.InvalidPayload"
RESULT_TOO_LARGE = "tether.ResultTooLarge"
PROTOCOL_ERROR = "tether.ProtocolError"
ZYGOTE_UNSUPPORTED = "tether.ZygoteUnsupported"
STREAM_REQUIRED = "tether.StreamRequired"


class CallCancelled(BaseException):
    """Raised in the call's thread when the agent cancels the call (its
    caller went away or its deadline passed). A BaseException, like
    KeyboardInterrupt, so `except Exception` in user code does not swallow
    it."""


class CallError(Exception):
    """A failure to report as a RemoteError, raised by the runner itself."""

    def __init__(self, error_type, message, tb=""):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.tb = tb


def qualified_type(cls):
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or cls.__name__
    if not module or module == "builtins":
        return name
    return module + "." + name


def remote_error(exc, skip_frames=0):
    """CallError from a user exception, its traceback less `skip_frames` of
    the runner's own frames."""
    tb = exc.__traceback__
    for _ in range(skip_frames):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return CallError(qualified_type(type(exc)), str(exc), text)
