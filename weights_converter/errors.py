class ConvertError(Exception):
    """A problem with an input file; the message names the file and says what is wrong."""
