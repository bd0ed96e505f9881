"""Offline concern score (Clio's `concerning` facet, 1–5) from an English harm lexicon: a heuristic.

Clio asks an LLM how concerning a conversation is, from 1 (harmless chat) to 5 (explicit threats or illegal
activity needing immediate review). Without an LLM, this module matches the user's turns against a hand-written
lexicon of harm categories, each with a severity on the same scale, and raises the score by one when the user asks
for help doing it ("how can I …", "without getting caught"). It is a keyword heuristic: it misses harm phrased
without these words, flags benign uses it does not recognise (security research, fiction), reads only English,
and is labelled as such wherever its scores show (`CONCERN_METHOD`). `clio eval concern` measures it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

CONCERN_METHOD = "heuristic: English harm lexicon over the user's turns (1-5); other languages unscored"
# The lexicon is English; a conversation in another language gets no score rather than a false "harmless".
SCORED_LANGUAGES = frozenset({"en"})
# Clusters whose mean concern reaches this are listed as "concerning" (between slightly and moderately
# concerning on Clio's scale; Clio's Figure 8 hides clusters below 1.75).
DEFAULT_CONCERN_FLOOR = 2.5


@dataclass(frozen=True)
class HarmCategory:
    name: str
    severity: int  # on Clio's scale: 2 slightly, 3 moderately, 4 very, 5 extremely concerning
    pattern: re.Pattern[str]


def _words(*alternatives: str) -> re.Pattern[str]:
    # Texts are lower-cased once before matching: case-sensitive patterns run about 3x faster.
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


CATEGORIES: tuple[HarmCategory, ...] = (
    HarmCategory("threat_of_violence", 5, _words(
        r"i(?:'m| am)? (?:going|gonna|about) to (?:kill|murder|shoot|stab|hurt|beat)",
        r"i (?:will|want to|wanna|plan to|intend to) (?:kill|murder|shoot|stab|poison|strangle|bomb)",
        r"(?:make|build|assemble) (?:a |an )?(?:pipe ?bomb|bomb|explosive|ied|molotov)",
        r"mass shooting", r"school shooting",
    )),
    HarmCategory("sexual_content_involving_minors", 5, re.compile(
        r"\b(?:child|children|kid|kids|minor|minors|underage|teen|preteen|\d{1,2}[- ]year[- ]old)\b"
        r"[^.?!]{0,60}\b(?:sex|sexual|sexy|nude|naked|porn\w*|molest\w*|erotic)\b"
        r"|\b(?:sex|sexual|nude|naked|porn\w*|molest\w*|erotic)\b[^.?!]{0,60}"
        r"\b(?:child|children|kid|kids|minor|minors|underage|preteen)\b")),
    HarmCategory("violence", 4, _words(
        r"kill(?:ing|ed|s)? (?:someone|somebody|people|him|her|them|my|a person|the|his|their)",
        r"murder\w*", r"assassinat\w*", r"tortur\w*", r"strangl\w*", r"suffocat\w*", r"kidnap\w*",
        r"massacre", r"behead\w*", r"hit ?man", r"beat (?:up|him|her|them|someone|the shit)",
        r"stab(?:bing|bed)?", r"shoot (?:someone|somebody|him|her|them|people|up)", r"terroris[mt]\w*",
        r"bomb(?:s|ing)?", r"explosives?", r"arson", r"burn (?:down|his|her|their|someone)",
        r"hurt (?:someone|somebody|him|her|them|people|my|a)", r"maim", r"lynch\w*", r"genocide",
        r"(?:dispose of|get rid of|hide|bury|burn) (?:a|the|his|her) (?:dead )?body", r"dead body",
        r"break (?:someone'?s|his|her|their|my \w+'?s) (?:legs?|arms?|neck|nose|bones?|jaw)",
        r"attack (?:someone|somebody|people|him|her|them|my)", r"punch\w*",
        r"(?:hit|kick|slap|choke) (?:him|her|them|someone|somebody|my|a kid|a child)",
        r"start (?:a|the) fire", r"set (?:\w+ )?on fire", r"drown (?:someone|somebody|him|her|them|my)",
        r"cause (?:the most |a lot of |as much )?(?:damage|destruction|harm|pain|panic|chaos)", r"mass panic",
        r"(?:cut|cutting|tamper\w* with) (?:a|the|his|her|their)? ?brake lines?",
        r"injur(?:e|ing) (?:someone|somebody|him|her|them)",
        r"hurt(?:ing)? (?:people|someone|somebody|him|her|them|his|their)", r"skin (?:a|the) (?:human|person)",
        r"cannibal\w*",
    )),
    HarmCategory("self_harm", 4, _words(
        r"suicid\w*", r"kill myself", r"end my (?:own )?life", r"take my (?:own )?life", r"self[- ]harm\w*",
        r"cut(?:ting)? myself", r"hurt myself", r"overdose", r"want to die", r"don'?t want to live",
    )),
    HarmCategory("poison_and_weapons", 4, _words(
        r"poison\w*", r"ricin", r"cyanide", r"arsenic", r"anthrax", r"nerve agent", r"sarin",
        r"untraceable", r"silencer", r"ghost gun", r"(?:3d[- ]print\w*|homemade) (?:gun|firearm|weapon)",
        r"nuclear (?:bomb|weapon)", r"bio ?weapon\w*", r"chemical weapon\w*",
    )),
    HarmCategory("crime", 4, _words(
        r"steal\w*", r"stole", r"stolen", r"rob(?:bed|bing|bery|beries)",
        r"rob (?:a|the|someone|somebody|my|banks?|people|him|her|them|stores?|houses?)", r"burglar\w*",
        r"shoplift\w*",
        r"break into", r"breaking into", r"pick (?:a|the) lock", r"hotwire", r"carjack\w*",
        r"mug(?:ging)? (?:someone|people)",
        r"launder\w*", r"embezzl\w*", r"counterfeit\w*",
        r"forg(?:e|ed|ery|ing) (?:a |an )?(?:signature|check|cheque|document|id|passport)",
        r"fake (?:id|ids|passport|identity|money|bills)", r"bribe\w*", r"blackmail\w*", r"extort\w*", r"ransom",
        r"smuggl\w*", r"traffick\w*", r"pickpocket\w*", r"scam(?:s|ming|mer|mers)?", r"fraud\w*",
        r"identity theft", r"evad(?:e|ing) (?:taxes|tax|the police|police|arrest)", r"tax evasion",
        r"(?:get|got|getting) away with", r"without (?:getting |being )?(?:caught|noticed|detected|anyone knowing)",
        r"vandali[sz]\w*", r"graffiti", r"drug (?:mule|dealer|dealing)s?", r"sell(?:ing)? drugs",
        r"cheat(?:ing)? on (?:my |the )?(?:taxes|test|exam)", r"plagiari[sz]\w*", r"defraud\w*",
        r"(?:avoid|not|without) (?:getting |being )?caught",
        r"pirat(?:ed|ing|e) (?:movies?|films?|software|games?|music|books?)",
        r"take (?:money|cash|things|stuff) (?:from|out of)",
        r"fake (?:card|vaccin\w*|certificate|degree|diploma|licen[cs]e|check)",
        r"without (?:them|him|her|anyone|my \w+) (?:knowing|noticing|finding out)",
        r"(?:escape|break out) (?:from|of) (?:jail|prison)", r"pyramid scheme", r"ponzi", r"pimp\w*",
        r"(?:slash|pop|puncture)(?:ed|ing)? (?:a |the |his |her |their |someone'?s )?tires?",
    )),
    HarmCategory("cyber_abuse", 3, _words(
        r"hack(?:s|ed|ing|er)? (?:into|someone|somebody|my (?:ex|wife|husband|boss|neighbou?r)|a |an |the )",
        r"malware", r"ransomware", r"keylogger", r"spyware", r"phishing", r"ddos", r"botnet", r"trojan",
        r"crack(?:ing)? (?:a |the |someone'?s )?password", r"steal (?:passwords|credentials|data)",
        r"bypass (?:the )?(?:paywall|drm|license|licence|security|authentication)", r"jailbreak",
    )),
    HarmCategory("privacy_invasion", 3, _words(
        r"(?:home|residential|house) address (?:of|for)", r"social security number", r"ssn",
        r"(?:phone|cell|cellphone|mobile) number (?:of|for)", r"stalk\w*", r"dox\w*", r"spy on",
        r"track (?:someone|somebody|my (?:wife|husband|girlfriend|boyfriend|ex))",
        r"secretly (?:record|film|track|watch)",
        r"read (?:someone'?s|my (?:wife|husband|girlfriend|boyfriend)'?s) (?:texts|messages|email)",
        r"e-?mail address(?:es)? (?:of|for)", r"(?:home|personal|residential) address(?:es)?",
        r"(?:phone|cell|cellphone) numbers? (?:of|for)",
        r"\w+'s (?:personal |private |home |cell |cellphone |phone |e-?mail )+(?:address|number|email|phone)",
        r"contact (?:information|info|details) (?:of|for)", r"who (?:is )?(?:living|lives|residing|resides) at",
        r"where (?:does|do) \w+ (?:\w+ )?live",
        r"(?:find|locate|track down) (?:a |the )?(?:person|guy|girl|woman|man|someone)",
    )),
    HarmCategory("drugs", 3, _words(
        r"cocaine", r"heroin", r"meth(?:amphetamine)?", r"fentanyl", r"crack cocaine", r"lsd", r"ecstasy", r"mdma",
        r"opioids?", r"oxy(?:contin|codone)", r"get(?:ting)? high",
        r"(?:grow|make|cook|buy) (?:weed|marijuana|meth|drugs)",
        r"drugs?", r"roofie\w*", r"date rape", r"weed", r"marijuana", r"cannabis", r"drunk", r"get wasted",
    )),
    HarmCategory("hate_and_harassment", 3, _words(
        r"racis[mt]\w*", r"nazis?", r"white (?:power|supremac\w*)", r"inferior (?:race|people)", r"slurs?",
        r"bad words", r"insults?",
        r"(?:hate|hates|hated) (?:black|white|jewish|jews|muslims?|gays?|women|men|immigrants)",
        r"n[i1]gg\w*", r"f[a4]gg?ots?", r"retard\w*", r"kike", r"spic", r"chink", r"tranny",
        r"bully\w*", r"harass\w*", r"humiliat\w*", r"revenge", r"get back at", r"make (?:him|her|them) (?:suffer|pay)",
        r"make fun of", r"offensive", r"(?:rude|mean|nasty|cruel|hurtful) (?:things|words|jokes?|names|comments?)",
        r"(?:curse|cuss|swear|dirty|bad) words?", r"profanit\w*", r"expletives?", r"sexis[mt]\w*", r"troll(?:s|ing)?\b",
        r"make (?:someone|somebody|him|her|them|a person) cry", r"kkk", r"ku klux", r"stereotyp\w*",
        r"anti-?semit\w*", r"slang (?:terms|words|names) for", r"jokes? about \w+ people", r"profane", r"fags?",
        r"(?:black|white|asian|jewish|muslim|mexican|chinese|gay|trans|fat|old) (?:people|men|women|guys) "
        r"(?:are|always|seem|can'?t|don'?t)",
        r"jokes? about (?:black|jews|jewish|asians?|gays?|women|mexicans?|muslims?|fat|disabled|retarded)",
    )),
    HarmCategory("weapons", 3, _words(
        r"guns?", r"firearms?", r"rifles?", r"pistols?", r"handguns?", r"ammo", r"ammunition", r"grenades?",
        r"machete", r"brass knuckles", r"switchblade",
    )),
    HarmCategory("sexual_content", 3, _words(
        r"sex", r"sexual(?:ly)?", r"porn\w*", r"nude\w*", r"naked", r"erotic\w*", r"orgasm\w*", r"horny",
        r"genitals?", r"penis", r"vagina", r"boobs?", r"tits", r"blowjob", r"fetish\w*", r"prostitut\w*", r"escort",
        r"rape\w*", r"molest\w*", r"incest", r"semen", r"cum(?:ming|shot)?", r"dick", r"pussy", r"sexy", r"seduc\w*",
        r"touch (?:someone|somebody|her|him|a (?:girl|woman|boy|man)) without", r"breasts?", r"arous\w*",
    )),
    HarmCategory("deception", 2, _words(
        r"lie to", r"lying to", r"better liar", r"manipulat\w*", r"gaslight\w*", r"cheat(?:ing)? on", r"deceiv\w*",
        r"trick (?:someone|people|my|him|her)", r"fake (?:review|reviews|news|doctor'?s note)", r"prank\w*",
        r"sneak\w*",
    )),
    HarmCategory("profanity", 2, _words(
        r"fuck\w*", r"shit\w*", r"bitch\w*", r"asshole\w*", r"bastard\w*", r"cunt\w*", r"damn", r"piss\w*",
        r"whore\w*", r"slut\w*", r"stupid", r"idiot\w*", r"moron\w*",
    )),
)

# Asking how to do it, or how to avoid consequences, turns a topic into a request for help with it.
INTENT = _words(
    r"how (?:do|can|could|would|should|to) (?:i|we|you|one)", r"how to", r"help me", r"teach me", r"show me how",
    r"best way to", r"easiest way to", r"ways? to", r"tips (?:on|for)", r"step[- ]by[- ]step", r"i want to",
    r"i need to", r"i'?m going to", r"i plan to", r"without (?:getting |being )?caught", r"get away with",
)

# Benign senses of harm words, removed before matching: code and computing jargon, idioms, cooking.
BENIGN = _words(
    r"kill(?:s|ed|ing)? (?:the |a |this |that |all )?(?:process(?:es)?|thread|task|job|session|server|signal|"
    r"command|pid|app|program|container|pod|switch)",
    r"(?:child|parent|zombie) process(?:es)?", r"killer (?:feature|app)", r"kill (?:time|it)", r"killing it",
    r"photo ?shoot", r"shoot(?:ing)? (?:a |the )?(?:photo|video|film|movie|scene)", r"bottleneck",
    r"bomb(?:ed)? (?:the|my) (?:exam|test|interview)",
    r"sex (?:of|ratio|differences?|determination)", r"hack(?:athon|er news|s for)", r"life ?hacks?",
    r"time ?bomb", r"bath ?bombs?", r"crack(?:ing)? (?:an |the )?(?:egg|code|joke|smile)",
    r"crack(?:ed)? (?:screen|phone)",
    r"murder mystery", r"drug (?:interactions?|discovery|development|trials?|design)",
    r"rob(?:ot|ots|otic|otics|ert|erts|in|inson)",
)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)
# Only the start of each user turn is read: harmful requests are short, and long turns are mostly pasted
# documents or code whose scanning would dominate the cost.
MAX_CHARS_PER_TURN = 4000


@dataclass(frozen=True)
class ConcernScore:
    score: int
    categories: tuple[str, ...]


def score_text(text: str) -> ConcernScore:
    """Clio's 1–5 scale from one user text: the most severe harm category found, +1 for a request for help
    with it (categories of severity 3 or more), capped at 5; 1 when nothing matches."""
    cleaned = BENIGN.sub(" ", _CODE.sub(" ", text[:MAX_CHARS_PER_TURN].lower()))
    found = [c for c in CATEGORIES if c.pattern.search(cleaned)]
    if not found:
        return ConcernScore(1, ())
    severity = max(c.severity for c in found)
    if severity >= 3 and INTENT.search(cleaned):
        severity += 1
    return ConcernScore(min(severity, 5), tuple(c.name for c in found))


def concern_of(user_texts: Sequence[str], language_code: str) -> int | None:
    """The conversation's score: the highest over its user turns; None in a language the lexicon lacks."""
    if language_code not in SCORED_LANGUAGES or not user_texts:
        return None
    return max(score_text(text).score for text in user_texts)
