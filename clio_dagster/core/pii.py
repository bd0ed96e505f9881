"""Local, dependency-free PII scrubber used by the offline backend before text leaves the private DB.

Precision matters as much as recall here: scrubbed summaries get clustered, so ordinary words,
product names, version numbers, years and prices must survive. Structured identifiers (emails,
cards, IBANs...) are validated (Luhn, mod-97, `ipaddress`) rather than matched on shape alone.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType

KINDS: tuple[str, ...] = ("EMAIL", "URL", "IP", "IBAN", "CARD", "SSN", "PHONE", "ADDRESS", "NAME")
PLACEHOLDERS: frozenset[str] = frozenset(f"[{k}]" for k in KINDS)
_PRIORITY = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True)
class Redaction:
    kind: str
    start: int
    end: int


def _char_class(pred: Callable[[str], bool]) -> str:
    """Regex class of BMP chars satisfying `pred` (stdlib `re` has no \\p{Lu})."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF or not pred(chr(cp)):
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    parts = [re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges]
    return "[" + "".join(parts) + "]"


_UP = _char_class(lambda c: c.isupper() or c.istitle())
_LO = _char_class(lambda c: c.islower())
_CAPWORD = rf"{_UP}(?:{_LO}|{_UP})*(?:['’-]{_UP}?{_LO}+)*"

# --- regex-based kinds -----------------------------------------------------------------------

_EMAIL = r"(?<![\w.%+-])[\w.%+-]+@(?:[\w-]+\.)+[A-Za-z]{2,24}(?![\w-])"

_TLDS = (
    "com|org|net|edu|gov|mil|int|io|ai|co|uk|de|fr|ru|cn|jp|kr|br|es|nl|be|ch|se|dk|fi|pl|cz|sk|hu|ro|gr|pt|"
    "ie|au|nz|ca|us|eu|biz|xyz|online|site|tech|store|si|hr|bg|ua|tr|il|za|mx|ar|cl|tw|hk|sg|vn|th|ee|lv|lt|"
    "lu|cy|tn|gg"
)
_URL = (
    r"(?:\b(?:https?|ftp)://|(?<![\w.@/-])www\.)[^\s<>\"'`{}|\\^\[\]]+"
    r"|(?<![\w.@/-])(?!(?i:self|this|cls|super|obj|np|pd|os|sys|re|asp|vb|ado|cruisecontrol)\.)"
    rf"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+(?:{_TLDS})(?![\w(-])(?:/[^\s<>\"'`]*)?"
)

_IP = (
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
    r"|(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])"
)

_IBAN = r"(?<![\w-])[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,4})?)(?![\w-])"

_CARD = r"(?<![\w.,+-])\d(?:[ -]?\d){11,18}(?![\w]|[.,-]\d)"

_SSN = (
    r"(?<![\w.,-])(?!000|666)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w]|[.,-]\d)"
    r"|(?i:\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:is|:|#|=)?\s*)(?-i:(?!000|666)\d{9}\b)"
)

_PHONE = (
    r"(?<![\w./@#$€£¥+-])"
    r"(?:\+\d{1,3}[ .\-\u00a0]?)?"
    r"(?:\(\d{1,5}\)[ .\-\u00a0]?)?"
    r"\d{1,12}(?:[ .\-\u00a0]\(?\d{1,8}\)?)*"
    r"(?:[ \u00a0]?(?:x|ext\.?|extension)[ \u00a0]?\d{1,6})?"
    r"(?![\w]|[.,:]\d|\.\w)"
)

_HOUSE = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_US_SUFFIX = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Ter|"
    "Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Trail|Trl|Crescent|Cres|Close|Row|Alley|Plaza|"
    "Greens?|Heights|Hts|Crossroads?|Crossing|Xing|Coves?|Creeks?|Walk|Mews|Gardens?|Groves?|Hills?|"
    "Parks?|Ridges?|Loop|Path|Pike|Turnpike|Expressway|Expy|Freeway|Fwy|Motorway|"
    "Estates?|Forges?|Fields?|Meadows?|Springs?|Islands?|Villages?|Vista|Views?|Junctions?|Landing|"
    "Manors?|Mills?|Orchard|Oval|Passage|Ports?|Prairie|Ramp|Ranch|Rapids?|Shoals?|Shores?|"
    "Skyway|Spurs?|Stravenue|Stream|Summit|Trace|Trafficway|Tunnel|Underpass|Valleys?|"
    "Viaduct|Ville|Wells?|Brooks?|Burgs?|Bypass|Canyon|Causeway|Cliffs?|Commons|Corners?|"
    "Courts|Curve|Dale|Dam|Divide|Drives|Extensions?|Falls?|Ferry|Flats?|Fords?|Forks?|Fort|"
    "Glens?|Harbors?|Haven|Hollow|Inlet|Isle|Knolls?|Lakes?|Locks?|Lodge|"
    "Mountains?|Mount|Neck|Overpass|Pines?|Plains?|Radial|Route|Squares|Streets|Throughway|"
    "Trailer|Walks|Ways"
)
_EU_STREET_WORD = (
    r"[^\W\d_]{3,}(?i:gatan|gata|gaten|vägen|veien|vegen|vej|vejen|gade|vænget|stræde|straße|strasse|"
    r"stasse|weg|gasse|platz|allee|katu|kuja|polku|laan|straat|gracht|plein|dijk|utca|bakken|vegur|braut|"
    r"stígur|gränd|torget|tänav|iela|ulica|str\.)"
)
_EU_PREFIX = (
    r"(?:Rue|Via|Viale|Corso|Piazza|Piazzale|Vicolo|Largo|Calle|Avenida|Avda\.|Av\.|Avenue|Rua|R\.|"
    r"Travessa|Praça|Paseo|Plaza|Carrer|Camino|Ronda|Rambla|Vía|Travesía|Pasaje|Rúa|Chemin|Allée|"
    r"Boulevard|Bd\.?|Place|Quai|Impasse|ul\.|ulica|al\.|Aleja|os\.|Strada|Calea|Str\.|Bulevardul|"
    r"Ulitsa|ул\.|улица|пр\.|проспект|Trg|C/|Plac|Rynek|Náměstí|Nám\.|Piața|Λεωφ\.|Οδός)"
)
_PARTICLE = (
    r"(?:de|del|della|dei|di|da|do|dos|das|du|des|le|la|les|los|las|el|d'|l'|dello|am|an|der|den|von|van|op|het)"
)
_NAMEWORD = rf"(?:{_CAPWORD}|{_PARTICLE}|\d{{1,2}}(?:st|nd|rd|th)|[NSEW]\.?|{_UP}\.)"
_UNIT = r"(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Fl\.?|Floor|Room|Rm\.?|#)[ \t]*#?[ \t]*\d{1,6}[A-Za-z]?"
_MONTHS = (
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|January|February|March|April|June|July|August|"
    r"September|October|November|December|Januar|Februar|März|Juni|Juli|Oktober|Dezember|Janvier|Février|Mars|"
    r"Avril|Mai|Juin|Juillet|Août|Septembre|Octobre|Novembre|Décembre|Enero|Febrero|Marzo|Abril|Mayo|Junio|"
    r"Julio|Agosto|Septiembre|Octubre|Noviembre|Diciembre)"
)
_HU_SUFFIX = r"(?:út|utca|u\.|tér|körút|krt\.|sor|köz)"

_SP = r"[ \t]+"
_ZIP = r"(?:\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}|\d{4}[ \t]?[A-Z]{2}|\d{3}[ \t]\d{2})"
_ADDRESS_FORMS = (
    # 12 Main St / 1600 Pennsylvania Avenue NW
    rf"(?<![\w.,-])(?:\d{{1,6}}{_SP})?{_HOUSE}{_SP}(?:{_NAMEWORD}{_SP}){{1,4}}(?:{_US_SUFFIX})\b\.?",
    # Östbygatan 14, Obere Bahnhofstrasse 9, Koepenicker Str. 74
    rf"(?<![\w-])(?:{_HOUSE}{_SP})?(?:{_CAPWORD}{_SP})?{_EU_STREET_WORD}(?:{_SP}{_NAMEWORD}){{0,2}}{_SP}{_HOUSE}\b\.?",
    # Rákóczi út 81., Veres Pálné u. 91.
    rf"(?<![\w-])(?:{_HOUSE}{_SP})?{_CAPWORD}(?:{_SP}{_CAPWORD}){{0,2}}{_SP}(?:Str\.|{_HU_SUFFIX}){_SP}{_HOUSE}\b\.?",
    # Rue Dielhère 130, Via Capo le Case 143, ul. Północna 73
    rf"(?<![\w-])(?:{_HOUSE}{_SP})?{_EU_PREFIX}{_SP}(?:{_NAMEWORD}{_SP}){{0,4}}{_NAMEWORD}[ \t]*,?{_SP}{_HOUSE}\b\.?",
    # 33 avenue de Provence
    rf"(?<![\w.,-]){_HOUSE},?{_SP}(?i:rue|avenue|boulevard|chemin|allée|impasse|quai|calle){_SP}"
    rf"(?:{_NAMEWORD}{_SP}){{0,3}}{_NAMEWORD}",
    # PSC 7589, Box 0572 / USS Mahler + APO AE 20040
    rf"\b(?:(?:PSC|Unit){_SP}\d{{3,5}},?{_SP}Box{_SP}\d{{3,5}}|(?:USNS|USNV|USS|USCGC){_SP}{_CAPWORD})"
    rf"[ \t]*\n?[ \t]*(?:APO|FPO|DPO){_SP}A[AEP]{_SP}\d{{5}}\b",
    # 19 Sokolská 1475, (number, street name, number, then end of line or comma)
    rf"(?<![\w.,-])\d{{1,6}}{_SP}(?!{_MONTHS}\b){_CAPWORD}(?:{_SP}(?:{_CAPWORD}|{_PARTICLE})){{0,3}}{_SP}"
    rf"\d{{1,5}}[A-Za-z]?\b\.?(?=[ \t]*(?:[,\n]|$))",
    rf"(?:(?<![\w.,-])\d{{1,6}}{_SP})?\b(?i:P\.?[ \t]?O\.?[ \t]*Box){_SP}\d{{1,6}}\b",
    r"(?i:\b(?:zip|postal|post)[ \t]*code|\bpostcode)[ \t]*(?:is|:|=|number)?[ \t]*"
    r"(?P<zip>\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}|\d{4,6})\b",
    r"\b(?:Apt\.?|Apartment|Suite)[ \t]*#?[ \t]*\d{1,6}[A-Za-z]?\b",
)
_ADDRESS = "(?:" + "|".join(_ADDRESS_FORMS) + ")"
_TAIL_JOIN = r"(?:[ \t]*(?:,|\n{1,2})[ \t]*(?:,[ \t]*)?|[ \t]+)"
_TAIL_WORD = rf"(?:{_CAPWORD}|{_UP}+|{_PARTICLE}|of|and|the|nad|na|pod|u|am|im|bei|sur|en|y|e|i)"
_ADDRESS_TAIL = re.compile(
    rf"(?:[ \t]*[,\n]?[ \t]*{_UNIT}\b)?"
    rf"(?:{_TAIL_JOIN}(?:{_CAPWORD}|{_UP}+)(?:{_SP}{_TAIL_WORD}){{0,4}}){{0,3}}?"
    rf"(?:[ \t]*(?:,|\n{{1,2}})?[ \t]*)(?:[A-Z]{{2}}{_SP})?{_ZIP}(?![\w-])"
)
_UNIT_TAIL = re.compile(rf"[ \t]*,?[ \t]*\n?[ \t]*{_UNIT}\b")

PII_PATTERNS: Mapping[str, re.Pattern[str]] = MappingProxyType(
    {
        "EMAIL": re.compile(_EMAIL),
        "URL": re.compile(_URL),
        "IP": re.compile(_IP),
        "IBAN": re.compile(_IBAN),
        "CARD": re.compile(_CARD),
        "SSN": re.compile(_SSN),
        "PHONE": re.compile(_PHONE),
        "ADDRESS": re.compile(_ADDRESS),
    }
)
"""Candidate patterns per kind. Shape only: `find_pii` also applies validators and context rules."""

# --- validators -------------------------------------------------------------------------------

_URL_TRAILING = ".,;:!?'\")]}>*"


def _url_span(m: re.Match[str]) -> tuple[int, int] | None:
    s, e = m.span()
    text = m.string
    while e > s and text[e - 1] in _URL_TRAILING:
        if text[e - 1] == ")" and text.count("(", s, e) >= text.count(")", s, e):
            break
        e -= 1
    return (s, e) if e - s >= 4 else None


def _ip_span(m: re.Match[str]) -> tuple[int, int] | None:
    token = m.group()
    if ":" not in token:
        octets = [int(o) for o in token.split(".")]
        if octets[0] <= 9 and all(o <= 20 for o in octets[1:]):
            return None
        return m.span()
    if sum(1 for g in token.split(":") if g) < 3:
        return None
    try:
        ipaddress.IPv6Address(token)
    except ValueError:
        return None
    return m.span()


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_CONTEXT = re.compile(r"(?i)\b(?:card|cc|visa|mastercard|amex|maestro|credit|debit)\b")


def _card_span(m: re.Match[str]) -> tuple[int, int] | None:
    token = m.group()
    digits = token.replace(" ", "").replace("-", "")
    if len(set(digits)) == 1 or not _luhn(digits):
        return None
    if len(digits) < 13:
        window = m.string[max(0, m.start() - 40) : m.start()]
        if not _CARD_CONTEXT.search(window):
            return None
    seps = {c for c in token if c in " -"}
    if len(seps) > 1:
        return None
    return m.span()


def _iban_valid(s: str) -> bool:
    s = s.replace(" ", "").upper()
    if not (15 <= len(s) <= 34):
        return False
    rotated = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in rotated)) % 97 == 1
    except ValueError:
        return False


def _iban_span(m: re.Match[str]) -> tuple[int, int] | None:
    s, e = m.span()
    token = m.group()
    while True:
        if _iban_valid(token):
            return s, s + len(token)
        cut = token.rfind(" ")
        if cut < 14:
            return None
        token = token[:cut]


def _ssn_span(m: re.Match[str]) -> tuple[int, int] | None:
    if m.group(1) is not None:
        return m.span()
    token = m.group()
    digits_at = len(token) - 9
    return m.start() + digits_at, m.end()


_PHONE_CONTEXT = re.compile(
    r"(?i)(?:phone|tel\b|telephone|call|mobile|cell|fax|office|desk|contact|reach|texts?\s+me|sms|whats\s?app|"
    r"dial|ph\b|number|no\.|nr\.|#|mob\b|landline|home|work|ring)"
)
_YEAR = re.compile(r"(?:1[89]|20)\d\d")


def _looks_like_date(groups: list[str]) -> bool:
    if len(groups) < 3:
        return False
    a, b, c = groups[:3]
    if len(a) == 4 and _YEAR.fullmatch(a) and len(b) <= 2 and len(c) <= 2:
        return 1 <= int(b) <= 12
    if len(c) == 4 and _YEAR.fullmatch(c) and len(a) <= 2 and len(b) <= 2:
        return True
    return False


def _phone_span(m: re.Match[str]) -> tuple[int, int] | None:
    token = m.group()
    text = m.string
    start = m.start()
    if start >= 2 and text[start - 1] in ",." and text[start - 2].isdigit():
        return None
    core = re.split(r"[ \u00a0]?(?:x|ext\.?|extension)[ \u00a0]?(?=\d)", token, maxsplit=1)[0]
    if core.count("(") != core.count(")"):
        return None
    digits = sum(c.isdigit() for c in core)
    if not 6 <= digits <= 15:
        return None
    groups = re.findall(r"\d+", core)
    plus = core.startswith("+")
    paren = "(" in core
    before = text[max(0, start - 40) : start]
    after = text[m.end() : m.end() + 16]
    has_context = bool(_PHONE_CONTEXT.search(before) or _PHONE_CONTEXT.search(after))
    if digits == 6 and not (has_context and len(groups) >= 2):
        return None
    if len(groups) == 1:
        if (digits == 10 and core[0] in "23456789") or plus or has_context:
            return m.span()
        return None
    if _looks_like_date(groups) or all(_YEAR.fullmatch(g) for g in groups):
        return None
    if len(groups) == 2 and not (plus or paren or has_context):
        if "-" in core and (len(groups[0]) == len(groups[1]) or any(_YEAR.fullmatch(g) for g in groups)):
            return None
    inner = groups[1:] if plus else groups
    if not plus and any(len(g) == 1 for g in inner[1:]):
        return None
    if sum(g.endswith("00") for g in groups) >= 2:
        return None
    if "." in core and not (plus or paren):
        lens = [len(g) for g in groups]
        if len(groups) < 3 or any(n > 4 for n in lens) or lens[0] == 1:
            return None
    if plus or paren:
        return m.span()
    if len(groups[0]) == 1 and not has_context:
        return None
    return m.span()


def _address_span(m: re.Match[str]) -> tuple[int, int] | None:
    if m.group("zip") is not None:
        return m.span("zip")
    s, e = m.span()
    text = m.string
    tail = _ADDRESS_TAIL.match(text, e)
    if tail and tail.end() - e <= 80:
        return s, tail.end()
    unit = _UNIT_TAIL.match(text, e)
    if unit:
        e = unit.end()
    return s, e


_VALIDATORS: dict[str, Callable[[re.Match[str]], tuple[int, int] | None]] = {
    "EMAIL": lambda m: m.span(),
    "URL": _url_span,
    "IP": _ip_span,
    "IBAN": _iban_span,
    "CARD": _card_span,
    "SSN": _ssn_span,
    "PHONE": _phone_span,
    "ADDRESS": _address_span,
}

# --- names ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _first_names() -> tuple[frozenset[str], frozenset[str]]:
    """(plain, ambiguous): ambiguous names are also common words, so they need a surname."""
    plain: set[str] = set()
    ambiguous: set[str] = set()
    path = files("clio_dagster.core") / "data" / "first_names.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, flag = line.partition(" ")
        (ambiguous if flag.strip() == "*" else plain).add(name)
    return frozenset(plain), frozenset(ambiguous)


_TOKEN = re.compile(r"(?<![^\W\d_])[^\W\d_]+(?:['’-][^\W\d_]{2,})*")
_CAP_TOKEN = re.compile(rf"(?<![^\W\d_]){_UP}[^\W\d_]*(?:['’-][^\W\d_]{{2,}})*")
_HONORIFIC = re.compile(
    r"(?<![\w.])(?:(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Madame|Mme|Mlle|Herr|Frau|Señor|Señora|Sr|Sra|"
    r"Srta|Mister|Professor)\.?|(?i:mr|mrs|ms|dr|prof|miss)\.|(?:MR|MRS|MS|DR)\.)[ \t]+(?=\S)"
)
_NAME_INTRO = re.compile(
    r"(?i:\b(?:my[ \t]+name[ \t]+is|my[ \t]+name's|name[ \t]+is|names?[ \t]*[:=]|(?:full|first|last|customer|"
    r"patient|client|user|account|holder|contact)[ \t]+name[ \t]*[:=]?|i[ \t]+am[ \t]+called|calls?[ \t]+me|"
    r"named|signed[ \t]*,?))[ \t]*"
)
_SELF_INTRO = re.compile(r"(?i:\b(?:i'm|i’m|i\s+am|this\s+is|it's|it’s)\b)[ \t]+")
_GREETING = re.compile(r"(?i:\b(?:dear|hi|hello|hey|hiya|greetings|thanks|thank\s+you)\b),?[ \t]+")
_SIGNOFF = re.compile(
    r"(?i:\b(?:regards|sincerely|cheers|best|thanks|yours|br|xoxo|love)\b)[ \t]*,?[ \t]*\n[ \t]*"
    r"|(?i:\b(?:regards|sincerely|cheers|yours\s+truly)\b)[ \t]*,[ \t]*"
)
_SPEECH = re.compile(r"(?i:\b(?:says|said|asked|asks|replied|replies|wrote|writes|explained|added|noted))[ \t]+")
_POSSESSOR = re.compile(
    rf"(?<![^\W\d_])({_UP}{_LO}+(?:-{_UP}{_LO}+)?)['’]s[ \t]+(?:address|phone|number|email|e-mail|wife|husband|"
    r"partner|son|daughter|mother|father|mom|mum|dad|brother|sister|boyfriend|girlfriend|fianc[ée]e?|birthday|"
    r"account|house|home|car|kids?|children|family|boss|cell|mobile|parents?|grandma|grandmother|grandpa|"
    r"grandfather|aunt|uncle|cousin|niece|nephew|ssn|passport|salary|diagnosis|doctor)\b"
)
_LIST_JOIN = re.compile(r"[ \t]*,[ \t]*(?:and[ \t]+|&[ \t]*)?|[ \t]+(?:and|&|or)[ \t]+")
_PLACE_PREFIX = frozenset("San Santa Santo Sao São St Saint Sainte Fort Port Mount Lake Cape Los Las El La Le".split())
_NOT_NAMES = frozenset(
    """The A An And Or But If Then So Is Are Was Were Be Been Am I You He She It We They Me My Your His Her
    Our Their This That These Those There Here What When Where Why How Who Whom Which Not No Yes Please
    Thanks Thank Hello Hi Hey Dear All Everyone Everybody Team Guys Folks Friends Friend Sir Madam World
    Again Also Just Very Some Any Each Every In On At To For Of From By With Without About As Into Over
    Under After Before Can Could Would Should Will Shall May Might Must Do Does Did Have Has Had Let Make
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June July August
    September October November December Mr Mrs Ms Dr Prof Street St Road Avenue Ave Lane Drive Apt Suite
    ChatGPT GPT Claude Bard Gemini Copilot Assistant Bot AI Siri Alexa Google Microsoft Apple Amazon
    Python Java JavaScript Excel Word Windows Linux Mac Chrome Firefox There's Here's Good Great Morning
    Afternoon Evening Night Welcome Sorry Okay Ok Well Now Today Tomorrow Yesterday New Old Mom Dad Mum
    Mother Father Brother Sister Son Daughter Wife Husband Boss Doctor Nurse Teacher Professor Customer
    User Admin Support Service Sales Manager Everything Nothing Something Anything Someone Anyone Other
    Both Such Only First Last Next Yours Regards Best Sincerely Cheers Love Kind Warm Not Sure Happy String
    Int Integer Boolean Bool Float Double Number Object Array List Dict None Null True False Optional Any Date
    Text Char Long Short Byte Void Type Value Key Name Part Section Chapter Plan Class Group Appendix Exhibit
    Schedule Article Step Phase Level Grade Form Table Figure Fig Vitamin Hepatitis Model Option Block Unit
    Building Room Row Column Volume Vol Book Box Zone Area Point Item Question Exercise Problem Task Lot Sheet
    Page Note Rule Case Version Mode Layer Stage Size Series Track Scene Act Episode Season Game Test
    Madame Mademoiselle Mister Master Mstr Marketing Sales Members Member Colleague Colleagues Valued Hiring
    Client Clients Applicant Recipient Reader Readers Student Students Parent Parents Partner Partners Staff
    Committee Board Editor Editors Reviewer Reviewers Sirs Ladies Gentlemen Gents Community Coach""".split()
)
_SENTENCE_BREAK = frozenset(".!?:;\"'“”‘’()[]{}<>\n*-•#|")


_CAMEL_OK = ("Mc", "Mac", "De", "Le", "La", "Di", "Da", "Du", "Van", "Von", "St", "O'", "O’", "D'", "D’")


def _is_cap(tok: str) -> bool:
    """Title-cased word; camelCase identifiers are not names unless a McX/DeX/O'X style prefix explains it."""
    if len(tok) < 2 or not tok[0].isupper() or not any(c.islower() for c in tok[1:]) or tok[:2] in ("I'", "I’"):
        return False
    inner = [i for i, c in enumerate(tok[1:], 1) if c.isupper() and tok[i - 1].isalpha()]
    if not inner:
        return True
    return len(inner) == 1 and tok[: inner[0]] in _CAMEL_OK


def _sentence_start(text: str, pos: int) -> bool:
    i = pos - 1
    while i >= 0 and text[i] in " \t\u00a0":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_BREAK


def _extend_name(text: str, tokens: list[re.Match[str]], i: int, max_extra: int = 2) -> int:
    """End offset of a name starting at tokens[i], swallowing middle initials and capitalised surnames."""
    end = tokens[i].end()
    j = i + 1
    extra = 0
    while j < len(tokens) and extra < max_extra:
        t = tokens[j]
        tok = t.group()
        if text[end : t.start()] not in (" ", "\u00a0"):
            break
        if len(tok) == 1 and tok.isupper():
            after = t.end() + (1 if text[t.end() : t.end() + 1] == "." else 0)
            nxt = tokens[j + 1] if j + 1 < len(tokens) else None
            if nxt is None or text[after : nxt.start()] != " " or not _surname_like(text, nxt):
                break
            end = nxt.end()
            j += 2
            extra += 1
            continue
        if not _surname_like(text, t):
            break
        end = t.end()
        j += 1
        extra += 1
    return end


def _surname_like(text: str, tok: re.Match[str]) -> bool:
    word = tok.group()
    return _is_cap(word) and word not in _NOT_NAMES and not _contraction_after(text, tok.end())


def _contraction_after(text: str, pos: int) -> bool:
    return (
        text[pos : pos + 1] in ("'", "’")
        and text[pos + 1 : pos + 2].lower() in ("t", "d", "m")
        and not text[pos + 2 : pos + 3].isalpha()
    )


def _name_spans(text: str) -> Iterator[tuple[int, int]]:
    plain, ambiguous = _first_names()
    found: dict[int, int] = {}
    if text.islower() or not any(c.isupper() for c in text):
        for m in _TOKEN.finditer(text):
            tok = m.group()
            if len(tok) > 3 and tok.title() in plain and not _contraction_after(text, m.end()):
                found[m.start()] = m.end()
        yield from found.items()
        return
    tokens = list(_CAP_TOKEN.finditer(text))
    if not tokens:
        return
    index_at = {m.start(): k for k, m in enumerate(tokens)}

    def add(k: int, start: int, max_extra: int = 2) -> None:
        end = _extend_name(text, tokens, k, max_extra)
        if end > found.get(start, -1):
            found[start] = end

    def token_after(m: re.Match[str]) -> int | None:
        return index_at.get(m.end())

    for m in _HONORIFIC.finditer(text):
        k = token_after(m)
        if k is not None and _surname_like(text, tokens[k]):
            add(k, m.start())

    for m in _NAME_INTRO.finditer(text):
        k = token_after(m)
        if k is not None:
            if _surname_like(text, tokens[k]):
                add(k, tokens[k].start())
            continue
        low = _TOKEN.match(text, m.end())
        if low is not None and low.group().title() in plain:
            found[low.start()] = max(low.end(), found.get(low.start(), -1))

    for rx, closers in ((_SIGNOFF, ("", "\n", ".", ",", "!")), (_GREETING, ("", ",", "!", ".", ":", ";", "\n", "?")),
                        (_SPEECH, ("", ",", "!", ".", ";", "\n", "?", '"', "”"))):
        for m in rx.finditer(text):
            k = token_after(m)
            if k is None or not _surname_like(text, tokens[k]):
                continue
            end = _extend_name(text, tokens, k, max_extra=2 if rx is _SIGNOFF else 1)
            if text[end : end + 1] in closers or text[end : end + 2] in (" -", " –", "'s", "’s"):
                found[tokens[k].start()] = max(end, found.get(tokens[k].start(), -1))

    for m in _POSSESSOR.finditer(text):
        if m.group(1) not in _NOT_NAMES and not _sentence_start(text, m.start()) or m.group(1) in plain:
            found[m.start(1)] = max(m.end(1), found.get(m.start(1), -1))

    for m in _SELF_INTRO.finditer(text):
        k = token_after(m)
        if k is not None and (tokens[k].group() in plain or tokens[k].group() in ambiguous):
            add(k, tokens[k].start())

    for k, m in enumerate(tokens):
        tok = m.group()
        if k and tokens[k - 1].group() in _PLACE_PREFIX and text[tokens[k - 1].end() : m.start()] in (" ", ". "):
            continue
        if tok in plain:
            if not _contraction_after(text, m.end()):
                add(k, m.start())
        elif tok in ambiguous and not _sentence_start(text, m.start()):
            end = _extend_name(text, tokens, k, max_extra=1)
            if end > m.end():
                found[m.start()] = max(end, found.get(m.start(), -1))
        elif _is_cap(tok) and k + 2 < len(tokens) and tok not in _NOT_NAMES:
            ini = tokens[k + 1]
            if (
                len(ini.group()) == 1
                and ini.group().isupper()
                and text[m.end() : ini.start()] == " "
                and text[ini.end() : ini.end() + 2] == ". "
                and _surname_like(text, tokens[k + 2])
                and tokens[k + 2].start() == ini.end() + 2
            ):
                found[m.start()] = max(tokens[k + 2].end(), found.get(m.start(), -1))

    yield from _with_list_neighbours(text, tokens, index_at, found)


def _with_list_neighbours(
    text: str, tokens: list[re.Match[str]], index_at: dict[int, int], found: dict[int, int]
) -> Iterator[tuple[int, int]]:
    """Spread NAME across coordinated capitalised words: "Mandel, Eklund and Michael"."""
    spans = dict(found)
    frontier = list(found.items())
    while frontier:
        start, end = frontier.pop()
        k = index_at.get(start)
        if k is None:
            continue
        if k > 0:
            prev = tokens[k - 1]
            joined = _LIST_JOIN.fullmatch(text, prev.end(), start)
            if joined and prev.start() not in spans and _surname_like(text, prev):
                spans[prev.start()] = prev.end()
                frontier.append((prev.start(), prev.end()))
        j = k + 1
        while j < len(tokens) and tokens[j].start() < end:
            j += 1
        if j < len(tokens):
            nxt = tokens[j]
            if nxt.start() not in spans and _surname_like(text, nxt) and _LIST_JOIN.fullmatch(text, end, nxt.start()):
                e = _extend_name(text, tokens, j, max_extra=1)
                spans[nxt.start()] = e
                frontier.append((nxt.start(), e))
    yield from spans.items()


# --- public API ---------------------------------------------------------------------------------


_DIGITS = re.compile(r"\d+")
_ADDRESS_WINDOW = 160


def _digit_windows(text: str) -> Iterator[tuple[int, int]]:
    """Merged windows around digit runs: every address form contains a number, most prose doesn't."""
    lo = hi = -1
    for m in _DIGITS.finditer(text):
        s, e = max(0, m.start() - _ADDRESS_WINDOW), min(len(text), m.end() + _ADDRESS_WINDOW)
        if s <= hi:
            hi = e
            continue
        if hi > lo:
            yield lo, hi
        lo, hi = s, e
    if hi > lo:
        yield lo, hi


def _candidates(text: str) -> Iterator[tuple[str, int, int]]:
    for kind, rx in PII_PATTERNS.items():
        validate = _VALIDATORS[kind]
        if kind == "ADDRESS":
            matches: Iterator[re.Match[str]] = (m for lo, hi in _digit_windows(text) for m in rx.finditer(text, lo, hi))
        else:
            matches = rx.finditer(text)
        for m in matches:
            span = validate(m)
            if span is not None and span[1] > span[0]:
                yield kind, span[0], span[1]
    for s, e in _name_spans(text):
        if e > s:
            yield "NAME", s, e


def find_pii(text: str) -> list[Redaction]:
    """Non-overlapping PII spans, sorted; longer spans win overlaps, then the more specific kind."""
    if not isinstance(text, str) or not text:
        return []
    cands = sorted(set(_candidates(text)), key=lambda c: (-(c[2] - c[1]), _PRIORITY[c[0]], c[1]))
    starts: list[int] = []
    ends: list[int] = []
    chosen: list[Redaction] = []
    for kind, s, e in cands:
        i = bisect.bisect_left(starts, s)
        if (i > 0 and ends[i - 1] > s) or (i < len(starts) and starts[i] < e):
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        chosen.append(Redaction(kind, s, e))
    chosen.sort(key=lambda r: r.start)
    return chosen


def scrub(text: str) -> tuple[str, list[Redaction]]:
    """Replace each PII span with its `[KIND]` placeholder; offsets refer to the original text."""
    redactions = find_pii(text)
    if not redactions:
        return text, []
    out: list[str] = []
    pos = 0
    for r in redactions:
        out.append(text[pos : r.start])
        out.append(f"[{r.kind}]")
        pos = r.end
    out.append(text[pos:])
    return "".join(out), redactions
