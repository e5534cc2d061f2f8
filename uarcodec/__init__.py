"""uarcodec: the UAR-NVC neural video codec.

The public API lives in :mod:`uarcodec.api` and is re-exported here.
"""

__version__ = "0.1.0"

from uarcodec.api import (  # noqa: E402
    DecodeReport,
    InputOptions,
    UarStream,
    compare_videos,
    decode,
    encode,
    open_stream,
    select_frames,
    stream_info,
)
from uarcodec.errors import (  # noqa: E402
    UarCodingError,
    UarError,
    UarFormatError,
    UarInputError,
    UarSettingsError,
    UarVersionError,
)
from uarcodec.settings import EncoderSettings, TrainingSettings  # noqa: E402

__all__ = [
    "DecodeReport", "EncoderSettings", "InputOptions", "TrainingSettings", "UarCodingError", "UarError",
    "UarFormatError", "UarInputError", "UarSettingsError", "UarStream", "UarVersionError", "__version__",
    "compare_videos", "decode", "encode", "open_stream", "select_frames", "stream_info",
]
