"""Type stub of the C module ``cds_service._jsonscan`` (``_jsonscan.c`` says what it does)."""

def scan(text: bytes | bytearray | memoryview | str, /) -> tuple[int, int]:
    """(deepest nesting of arrays and objects, longest run of ASCII digits) of a JSON text."""
