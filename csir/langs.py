"""Language codes: ISO 639-1 validation and 639-1 <-> 639-3 names for MTEB-style subset names."""

from __future__ import annotations

from csir.errors import CsirError

ISO_639_1_TO_3 = {
    "af": "afr", "am": "amh", "ar": "ara", "as": "asm", "az": "aze", "be": "bel", "bg": "bul", "bn": "ben",
    "bo": "bod", "br": "bre", "bs": "bos", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu",
    "el": "ell", "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "eus", "fa": "fas", "fi": "fin",
    "fil": "fil", "fo": "fao", "fr": "fra", "fy": "fry", "ga": "gle", "gd": "gla", "gl": "glg", "gu": "guj",
    "ha": "hau", "he": "heb", "hi": "hin", "hr": "hrv", "ht": "hat", "hu": "hun", "hy": "hye", "id": "ind",
    "ig": "ibo", "is": "isl", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "km": "khm",
    "kn": "kan", "ko": "kor", "ku": "kur", "ky": "kir", "la": "lat", "lb": "ltz", "lo": "lao", "lt": "lit",
    "lv": "lav", "mg": "mlg", "mi": "mri", "mk": "mkd", "ml": "mal", "mn": "mon", "mr": "mar", "ms": "msa",
    "mt": "mlt", "my": "mya", "nb": "nob", "ne": "nep", "nl": "nld", "nn": "nno", "no": "nor", "oc": "oci",
    "or": "ori", "pa": "pan", "pl": "pol", "ps": "pus", "pt": "por", "ro": "ron", "ru": "rus", "rw": "kin",
    "sa": "san", "sd": "snd", "si": "sin", "sk": "slk", "sl": "slv", "so": "som", "sq": "sqi", "sr": "srp",
    "su": "sun", "sv": "swe", "sw": "swa", "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha", "tk": "tuk",
    "tl": "tgl", "tr": "tur", "tt": "tat", "ug": "uig", "uk": "ukr", "ur": "urd", "uz": "uzb", "vi": "vie",
    "xh": "xho", "yi": "yid", "yo": "yor", "zh": "zho", "zu": "zul",
}
ISO_639_3_TO_1 = {v: k for k, v in ISO_639_1_TO_3.items()}


def check_lang(code: str, field: str = "language") -> str:
    """Accept `de`, `deu`, `pt_BR`/`pt-BR`, `zh_CN`; return the canonical 639-1 code (`pt_BR` keeps region)."""
    base, _, region = code.replace("-", "_").partition("_")
    base = base.lower()
    if base in ISO_639_3_TO_1:
        base = ISO_639_3_TO_1[base]
    if base not in ISO_639_1_TO_3:
        raise CsirError(f"{field}: unknown language code '{code}' (expected ISO 639-1/-3, e.g. de or deu)")
    return f"{base}_{region.upper()}" if region else base


def to_iso3(code: str) -> str:
    return ISO_639_1_TO_3[check_lang(code).split("_")[0]]


# ISO 15924 script of each language's usual written form (MTEB names languages as `deu-Latn`); Latin otherwise.
_SCRIPTS = {
    "Arab": "ara fas urd pus snd uig", "Cyrl": "rus ukr bul bel mkd srp kaz kir tgk tat mon", "Hans": "zho",
    "Jpan": "jpn", "Hang": "kor", "Deva": "hin mar nep san", "Beng": "ben asm", "Grek": "ell", "Hebr": "heb yid",
    "Thai": "tha", "Armn": "hye", "Geor": "kat", "Ethi": "amh", "Taml": "tam", "Telu": "tel", "Knda": "kan",
    "Mlym": "mal", "Gujr": "guj", "Guru": "pan", "Orya": "ori", "Sinh": "sin", "Khmr": "khm", "Laoo": "lao",
    "Mymr": "mya", "Tibt": "bod",
}
ISO_639_3_SCRIPT = {lang: script for script, langs in _SCRIPTS.items() for lang in langs.split()}


def to_mteb_lang(code: str) -> str:
    """`de` / `deu` -> `deu-Latn`, `ru` -> `rus-Cyrl`, `zh` -> `zho-Hans`: MTEB's ISO 639-3 + ISO 15924 form."""
    iso3 = to_iso3(code)
    return f"{iso3}-{ISO_639_3_SCRIPT.get(iso3, 'Latn')}"
