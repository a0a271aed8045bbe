"""The warm engine's messages, checked against their schema before the daemon acts on one.

A JSON line of the wrong shape (`{"type": "command"}`, `"env": 5`, a NUL in a variable) is
answered with one `error` message naming the field; the daemon goes on serving. The thin client
(`runner.engine.client`) writes and reads the same shapes as plain dicts: it imports nothing
heavy (no pydantic) and trusts the engine, which it connects to only in a folder of its own user.

Client to daemon: `Command`, then any number of `Signal`. Daemon to client: `Declined`, or
`Output` messages then `Exit`; `Error` for a message it could not use.
"""

from __future__ import annotations

import json
import os
from typing import IO, Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a command's environment is a few KiB; more is no client


class MessageError(ValueError):
    """A client's message the daemon cannot use: not a JSON line, or not of a known shape."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_nul(text: str) -> str:
    if "\0" in text:
        raise ValueError("contains a NUL character")
    return text


class Command(_Message):
    """Run `runner ARGV` in folder `cwd` with environment `env` (the client's own)."""

    type: Literal["command"]
    argv: list[StrictStr] = Field(description="the arguments after `runner`")
    cwd: StrictStr = Field(description="the client's working folder, an absolute path")
    env: dict[StrictStr, StrictStr] = Field(description="the client's environment variables")

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, cwd: str) -> str:
        if not os.path.isabs(_no_nul(cwd)):
            raise ValueError("must be an absolute path")
        return cwd

    @field_validator("env")
    @classmethod
    def _settable(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            if not name or "=" in _no_nul(name):
                raise ValueError(f"{name!r} is not a variable name")
            _no_nul(value)
        return env


class Signal(_Message):
    """The client received SIGINT or SIGTERM: cancel its command as that signal would."""

    type: Literal["signal"]
    name: Literal["SIGINT", "SIGTERM"]


class Declined(_Message):
    """Run the command in the client's own process (`reason`: one line why; "" for none)."""

    type: Literal["declined"] = "declined"
    reason: StrictStr = ""


class Output(_Message):
    """Text the command wrote to its stdout (`out`) or stderr (`err`)."""

    type: Literal["out", "err"]
    text: StrictStr


class Exit(_Message):
    """The command ended with exit code `code`."""

    type: Literal["exit"] = "exit"
    code: StrictInt


class Error(_Message):
    """The daemon could not use the client's last message (`message` says why)."""

    type: Literal["error"] = "error"
    message: StrictStr


ClientMessage = Annotated[Command | Signal, Field(discriminator="type")]
_CLIENT_MESSAGE: TypeAdapter[Command | Signal] = TypeAdapter(ClientMessage)


def parse_client_message(line: bytes) -> Command | Signal:
    """The client's message in one JSON line, checked against its schema.

    Raises:
        MessageError: naming the first problems, one line.

    Example:
        >>> parse_client_message(b'{"type": "signal", "name": "SIGINT"}')
        Signal(type='signal', name='SIGINT')
        >>> parse_client_message(b'{"type": "command", "argv": [], "cwd": "/", "env": 5}')
        Traceback (most recent call last):
        ...
        runner.engine.messages.MessageError: bad message: env: Input should be a valid dictionary
    """
    try:
        data = json.loads(line)
    except ValueError as exc:  # also bytes that are no UTF-8
        raise MessageError(f"bad message: not JSON ({exc}): {line[:80]!r}") from None
    try:
        return _CLIENT_MESSAGE.validate_python(data)
    except ValidationError as exc:
        raise MessageError(f"bad message: {describe(exc)}") from None


def describe(exc: ValidationError, most: int = 3) -> str:
    """The first `most` problems of a validation error, each as `field: what is wrong`."""
    problems = []
    for error in exc.errors(include_url=False)[:most]:
        # the tag of the message type ("command") is not a field the user wrote
        where = ".".join(str(part) for part in error["loc"] if part not in ("command", "signal"))
        problems.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    more = exc.error_count() - most
    return "; ".join(problems) + (f"; and {more} more" if more > 0 else "")


def read_client_message(stream: IO[bytes]) -> Command | Signal | None:
    """Read and check the client's next message; None when it closed the connection.

    Raises:
        MessageError: a line too long, not JSON or of no known shape.
    """
    line = stream.readline(MAX_MESSAGE_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_MESSAGE_BYTES:
        raise MessageError(f"bad message: longer than {MAX_MESSAGE_BYTES} bytes")
    return parse_client_message(line)


def send_message(stream: IO[bytes], message: _Message) -> None:
    """Write one message (a JSON line) and flush it."""
    stream.write(message.model_dump_json().encode() + b"\n")
    stream.flush()

