"""Deterministic generator for the small datasets bundled with TuneFactory.

Tests and the demo need data in every shape that LLaMA-Factory's
``dataset_info.json`` can describe (alpaca, sharegpt with tools, OpenAI-style
messages, preference pairs, KTO labels, raw text, pictures), but shipping copied datasets
would bring third-party licences and network downloads with them.  Everything
under ``data/`` is therefore produced here from fact tables and templates
written for this project; every answer is computed by the code, so it is
correct by construction, and every "wrong" answer is a deliberate, plausible
slip.  Output is byte-stable: rerunning the generator rewrites identical files.

Regenerate with::

    python -m tunefactory_fixtures.bundled_data [out_dir]
"""

from __future__ import annotations

import datetime
import json
import random
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .tiny_audio import SAMPLING_RATE, mllm_audio_demo_rows, write_demo_sounds
from .tiny_multimodal import MEDIA_FOLDER, mllm_demo_rows, write_demo_media

__all__ = ["DEFAULT_OUT_DIR", "SEED", "main", "number_to_words", "write_bundled_data"]

SEED = 20240917
DEFAULT_OUT_DIR = Path(__file__).resolve().parents[2] / "data"
GENERATOR_COMMAND = "python -m tunefactory_fixtures.bundled_data"

Row = dict[str, Any]


# ---------------------------------------------------------------------------
# Fact tables (written for this project)
# ---------------------------------------------------------------------------

WORDS = (
    "garden",
    "window",
    "planet",
    "river",
    "candle",
    "pencil",
    "mountain",
    "blanket",
    "rocket",
    "harbor",
    "lantern",
    "meadow",
    "orchard",
    "puzzle",
    "thunder",
    "violin",
    "whisper",
    "yellow",
    "zebra",
    "anchor",
    "biscuit",
    "compass",
    "dolphin",
    "engine",
    "feather",
    "glacier",
    "horizon",
    "island",
    "jungle",
    "kettle",
    "library",
    "marble",
    "notebook",
    "octopus",
    "pepper",
    "quartz",
    "rainbow",
    "saddle",
    "tunnel",
    "umbrella",
    "velvet",
    "walnut",
    "balcony",
    "cactus",
    "diamond",
    "falcon",
    "giraffe",
    "helmet",
    "igloo",
    "jacket",
    "kitten",
    "lemon",
    "magnet",
    "napkin",
    "oyster",
    "parrot",
    "rabbit",
    "spider",
    "tomato",
    "trumpet",
    "volcano",
    "wizard",
    "bridge",
    "castle",
    "forest",
    "market",
    "silver",
    "winter",
    "basket",
    "button",
    "canyon",
    "desert",
)

SENTENCES = (
    "The library opens at nine on weekdays.",
    "Fresh bread is sold at the corner bakery every morning.",
    "Our team finished the project two days early.",
    "The train to the coast leaves from platform four.",
    "Please water the tomato plants before sunset.",
    "A gentle breeze moved the curtains in the kitchen.",
    "The museum has a new exhibit about ancient maps.",
    "She keeps a notebook full of sketches of birds.",
    "The bridge was painted bright green last summer.",
    "Children were flying kites in the park on Sunday.",
    "He repaired the old radio with a borrowed screwdriver.",
    "The recipe calls for two cups of flour and one egg.",
    "Heavy rain delayed the start of the football match.",
    "The students planted twelve trees behind the school.",
    "Our neighbor grows pumpkins larger than a bicycle wheel.",
    "The lighthouse guided fishing boats home through the fog.",
    "A small gray cat sleeps on the warm windowsill.",
    "The meeting will start after everyone has arrived.",
    "They hiked to the top of the hill to watch the sunrise.",
    "My grandmother writes letters with a fountain pen.",
    "The orchestra practiced the final song three times.",
    "Snow covered the village roofs during the night.",
    "The mechanic checked the brakes and the tires.",
    "We counted forty stars before the clouds rolled in.",
    "The farmer sold honey and apples at the market.",
    "The new bus route connects the station to the hospital.",
    "Every book on the top shelf is about the ocean.",
    "The puppy chased its tail until it fell asleep.",
    "A bright rainbow appeared after the afternoon storm.",
    "Our class visited a factory that makes glass bottles.",
)

# (term, definition, school subject)
DEFINITIONS = (
    (
        "photosynthesis",
        "the process by which green plants use sunlight, water and carbon dioxide to make their own food and release oxygen.",
        "biology",
    ),
    ("evaporation", "the change of a liquid into a gas, usually when it is warmed.", "physics"),
    (
        "gravity",
        "the force that pulls objects toward each other, such as the pull that keeps us on the ground.",
        "physics",
    ),
    ("algorithm", "a finite list of precise steps for solving a problem or completing a task.", "computing"),
    ("democracy", "a system of government in which citizens choose their leaders by voting.", "civics"),
    (
        "ecosystem",
        "a community of living things interacting with each other and with their physical surroundings.",
        "biology",
    ),
    (
        "metaphor",
        "a figure of speech that describes something by saying it is something else, as in 'time is a thief'.",
        "language",
    ),
    ("fraction", "a number that represents part of a whole, written as one number over another.", "mathematics"),
    ("habitat", "the natural home or environment of an animal, plant or other organism.", "biology"),
    ("inflation", "a general rise in prices over time, which reduces what a unit of money can buy.", "economics"),
    ("molecule", "a group of two or more atoms held together by chemical bonds.", "chemistry"),
    ("orbit", "the curved path that an object follows around a star, planet or moon.", "physics"),
    (
        "peninsula",
        "a piece of land almost surrounded by water but joined to a larger landmass on one side.",
        "geography",
    ),
    ("variable", "a named storage location in a program whose value can change while the program runs.", "computing"),
    ("compiler", "a program that translates source code into machine code that a computer can run.", "computing"),
    ("erosion", "the gradual wearing away of rock or soil by wind, water or ice.", "geography"),
    ("migration", "the seasonal movement of animals from one region to another.", "biology"),
    ("prime number", "a whole number greater than 1 whose only divisors are 1 and itself.", "mathematics"),
    ("perimeter", "the total distance around the edge of a flat shape.", "mathematics"),
    ("synonym", "a word that means the same or nearly the same as another word.", "language"),
    ("antonym", "a word whose meaning is the opposite of another word.", "language"),
    ("vaccine", "a preparation that trains the immune system to recognize and fight a specific disease.", "health"),
    ("budget", "a plan that estimates how much money will be earned and spent over a period of time.", "economics"),
    ("thermometer", "an instrument used to measure temperature.", "physics"),
    ("hypothesis", "a testable explanation proposed as a starting point for further investigation.", "science"),
    ("continent", "one of the very large landmasses of the Earth, such as Africa or Asia.", "geography"),
    ("battery", "a device that stores chemical energy and releases it as electricity.", "physics"),
    ("glacier", "a large, slow-moving mass of ice formed from compacted snow.", "geography"),
    ("password", "a secret string of characters used to prove your identity when logging in.", "computing"),
    ("noun", "a word that names a person, place, thing or idea.", "language"),
    ("verb", "a word that describes an action, state or occurrence.", "language"),
    ("volcano", "an opening in the Earth's crust through which molten rock, ash and gases escape.", "geography"),
    ("database", "an organized collection of data that can be searched and updated efficiently.", "computing"),
    ("friction", "the force that resists the motion of one surface sliding over another.", "physics"),
    ("catalyst", "a substance that speeds up a chemical reaction without being used up by it.", "chemistry"),
    ("nutrient", "a substance in food that the body needs to grow, repair itself and stay healthy.", "health"),
)

CAPITALS = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Brazil", "Brasília"),
    ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"),
    ("India", "New Delhi"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Mexico", "Mexico City"),
    ("Argentina", "Buenos Aires"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Poland", "Warsaw"),
    ("Portugal", "Lisbon"),
    ("Greece", "Athens"),
    ("Turkey", "Ankara"),
    ("China", "Beijing"),
    ("South Korea", "Seoul"),
    ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"),
    ("Indonesia", "Jakarta"),
    ("Peru", "Lima"),
    ("Chile", "Santiago"),
    ("Colombia", "Bogotá"),
    ("Nigeria", "Abuja"),
    ("Morocco", "Rabat"),
    ("Ireland", "Dublin"),
    ("Austria", "Vienna"),
    ("Netherlands", "Amsterdam"),
    ("New Zealand", "Wellington"),
    ("Switzerland", "Bern"),
    ("Ghana", "Accra"),
)

CAPITAL_OF = dict(CAPITALS)

# (word, synonym, antonym)
WORD_RELATIONS = (
    ("happy", "joyful", "sad"),
    ("ancient", "old", "modern"),
    ("brave", "courageous", "cowardly"),
    ("quick", "fast", "slow"),
    ("generous", "giving", "selfish"),
    ("bright", "shiny", "dim"),
    ("difficult", "hard", "easy"),
    ("huge", "enormous", "tiny"),
    ("quiet", "silent", "noisy"),
    ("begin", "start", "finish"),
    ("accept", "receive", "refuse"),
    ("wealthy", "rich", "poor"),
    ("calm", "peaceful", "anxious"),
    ("expand", "grow", "shrink"),
    ("honest", "truthful", "deceitful"),
    ("rare", "scarce", "common"),
    ("strong", "powerful", "weak"),
    ("clean", "spotless", "dirty"),
    ("arrive", "reach", "depart"),
    ("fragile", "delicate", "sturdy"),
    ("polite", "courteous", "rude"),
    ("simple", "plain", "complex"),
    ("ascend", "climb", "descend"),
    ("ample", "plentiful", "lacking"),
    ("cheerful", "merry", "gloomy"),
    ("vacant", "empty", "occupied"),
)

# (singular subject, plural subject)
PLURAL_SUBJECTS = (
    ("cat", "cats"),
    ("dog", "dogs"),
    ("child", "children"),
    ("mouse", "mice"),
    ("fox", "foxes"),
    ("baby", "babies"),
    ("teacher", "teachers"),
    ("woman", "women"),
    ("man", "men"),
    ("goose", "geese"),
    ("wolf", "wolves"),
    ("student", "students"),
    ("farmer", "farmers"),
    ("puppy", "puppies"),
    ("person", "people"),
    ("nurse", "nurses"),
    ("pilot", "pilots"),
)

# (third person singular, base form)
VERB_FORMS = (
    ("watches", "watch"),
    ("carries", "carry"),
    ("finds", "find"),
    ("follows", "follow"),
    ("reaches", "reach"),
    ("chases", "chase"),
    ("notices", "notice"),
    ("pushes", "push"),
    ("likes", "like"),
    ("has", "have"),
    ("misses", "miss"),
    ("passes", "pass"),
)

SENTENCE_OBJECTS = ("ball", "door", "map", "window", "letter", "kite", "box", "garden", "bicycle", "basket", "lamp")

# (animal, class, the class people most often confuse it with)
ANIMAL_CLASSES = (
    ("dolphin", "mammal", "fish"),
    ("bat", "mammal", "bird"),
    ("whale", "mammal", "fish"),
    ("penguin", "bird", "mammal"),
    ("eagle", "bird", "mammal"),
    ("ostrich", "bird", "mammal"),
    ("crocodile", "reptile", "amphibian"),
    ("turtle", "reptile", "amphibian"),
    ("snake", "reptile", "amphibian"),
    ("lizard", "reptile", "amphibian"),
    ("salmon", "fish", "amphibian"),
    ("shark", "fish", "mammal"),
    ("seahorse", "fish", "reptile"),
    ("frog", "amphibian", "reptile"),
    ("salamander", "amphibian", "reptile"),
    ("newt", "amphibian", "reptile"),
    ("toad", "amphibian", "reptile"),
    ("ant", "insect", "spider"),
    ("bee", "insect", "bird"),
    ("beetle", "insect", "spider"),
    ("butterfly", "insect", "bird"),
    ("owl", "bird", "mammal"),
    ("kangaroo", "mammal", "reptile"),
    ("platypus", "mammal", "bird"),
)

ACRONYM_PHRASES = (
    "central processing unit",
    "frequently asked questions",
    "as soon as possible",
    "random access memory",
    "portable document format",
    "graphical user interface",
    "do it yourself",
    "universal serial bus",
    "global positioning system",
    "personal identification number",
    "light emitting diode",
    "unidentified flying object",
    "very important person",
    "application programming interface",
    "read only memory",
    "solid state drive",
    "artificial intelligence",
    "natural language processing",
    "large language model",
    "search engine optimization",
)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

TIPS = {
    "sleeping better": (
        "Go to bed and wake up at the same time every day.",
        "Keep your bedroom cool, dark and quiet.",
        "Put screens away about an hour before bed.",
        "Avoid caffeine after the early afternoon.",
        "Get some daylight and exercise during the day.",
    ),
    "studying for an exam": (
        "Start reviewing several days ahead instead of cramming the night before.",
        "Test yourself with practice questions rather than only rereading notes.",
        "Work in short focused sessions with breaks in between.",
        "Explain difficult ideas out loud as if you were teaching someone.",
        "Sleep well the night before the exam.",
    ),
    "saving money": (
        "Move a fixed amount into savings as soon as you are paid.",
        "Write a shopping list and stick to it.",
        "Cancel subscriptions you have not used in the last month.",
        "Cook at home more often and bring lunch to work.",
        "Wait a day before any purchase you did not plan.",
    ),
    "writing clear emails": (
        "Put the main point or request in the first two sentences.",
        "Use a subject line that says what the email is about.",
        "Keep paragraphs short and use a list for several items.",
        "Say clearly what you need and by when.",
        "Read the email once more before sending it.",
    ),
    "working from home": (
        "Keep a dedicated workspace that you leave at the end of the day.",
        "Start work at a regular time, just as you would at an office.",
        "Plan your three most important tasks each morning.",
        "Take a short walk at lunch to reset your attention.",
        "Turn off notifications you do not need while focusing.",
    ),
    "keeping houseplants healthy": (
        "Check the soil with a finger and water only when the top layer is dry.",
        "Place each plant where its light needs are met.",
        "Use pots with drainage holes so roots do not sit in water.",
        "Wipe dust off broad leaves every few weeks.",
        "Feed plants lightly during spring and summer.",
    ),
    "learning a new language": (
        "Practice a little every day rather than a lot once a week.",
        "Learn the most common words first.",
        "Listen to simple podcasts or songs in the language.",
        "Speak out loud from the start, even if you make mistakes.",
        "Keep a notebook of useful phrases you hear.",
    ),
    "preparing for a job interview": (
        "Read about the company and its products beforehand.",
        "Prepare short stories that show how you solved real problems.",
        "Practice answering common questions out loud.",
        "Prepare two or three questions to ask the interviewer.",
        "Plan your route so that you arrive a few minutes early.",
    ),
    "reducing food waste": (
        "Plan meals for the week before you go shopping.",
        "Store leftovers in clear containers so you remember them.",
        "Freeze bread and fruit before they go stale or soft.",
        "Use older ingredients first when you cook.",
        "Turn vegetable scraps into stock or compost.",
    ),
    "writing readable code": (
        "Give variables and functions names that say what they mean.",
        "Keep each function focused on a single job.",
        "Write a short comment when the reason for a choice is not obvious.",
        "Remove dead code instead of leaving it commented out.",
        "Add tests for the behavior you rely on.",
    ),
}

PEOPLE = (
    ("Maya", "she"),
    ("Leo", "he"),
    ("Priya", "she"),
    ("Tom", "he"),
    ("Aisha", "she"),
    ("Kenji", "he"),
    ("Sofia", "she"),
    ("Omar", "he"),
    ("Lena", "she"),
    ("Diego", "he"),
    ("Nora", "she"),
    ("Sam", "he"),
    ("Ines", "she"),
    ("Tariq", "he"),
)

COUNTABLE_ITEMS = ("apples", "marbles", "stickers", "pencils", "cookies", "books", "stamps", "shells", "coins", "cards")

SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a careful tutor. Give correct answers in plain language.",
    "Answer concisely and accurately.",
    "You are a friendly assistant who explains answers briefly.",
    "You help students check their homework. Be precise.",
)


@dataclass(frozen=True)
class Conversion:
    """A unit conversion plus the typical slip a hurried person makes with it."""

    from_unit: str
    to_unit: str
    convert: Callable[[float], float]
    mistake: Callable[[float], float]
    low: int = 2
    high: int = 250


def _linear(from_unit: str, to_unit: str, factor: float, low: int = 2, high: int = 250) -> Conversion:
    """Conversions by a factor; the slip is dividing where one should multiply."""
    return Conversion(from_unit, to_unit, lambda v: v * factor, lambda v: v / factor, low, high)


CONVERSIONS = (
    _linear("kilometers", "miles", 0.621371),
    _linear("miles", "kilometers", 1.609344),
    _linear("kilograms", "pounds", 2.204623),
    _linear("pounds", "kilograms", 0.453592),
    _linear("meters", "feet", 3.28084),
    _linear("feet", "meters", 0.3048),
    _linear("inches", "centimeters", 2.54),
    _linear("centimeters", "inches", 1 / 2.54),
    _linear("liters", "milliliters", 1000, high=20),
    _linear("hours", "minutes", 60, high=48),
    _linear("minutes", "seconds", 60, high=120),
    _linear("days", "hours", 24, high=60),
    _linear("kilograms", "grams", 1000, high=30),
    _linear("gallons", "liters", 3.785412, high=60),
    Conversion("degrees Celsius", "degrees Fahrenheit", lambda c: c * 9 / 5 + 32, lambda c: c * 9 / 5, -10, 40),
    Conversion("degrees Fahrenheit", "degrees Celsius", lambda f: (f - 32) * 5 / 9, lambda f: f * 5 / 9, 14, 104),
)


# ---------------------------------------------------------------------------
# Small text helpers
# ---------------------------------------------------------------------------

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def number_to_words(n: int) -> str:
    """Spell an integer below one million in English, e.g. 347 -> 'three hundred forty-seven'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, rest = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[rest]}" if rest else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    if n < 1_000_000:
        thousands, rest = divmod(n, 1000)
        return f"{number_to_words(thousands)} thousand" + (f" {number_to_words(rest)}" if rest else "")
    raise ValueError(f"number_to_words supports |n| < 1000000, got {n}")


def _fmt(x: float) -> str:
    """Render a number without float noise: 7.4564 -> '7.46', 180.0 -> '180'."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _approx_word(x: float) -> str:
    """'is' for values exact at two decimals, 'is about' for rounded ones."""
    return "is" if abs(x - round(x, 2)) < 1e-9 else "is about"


def _join_and(items: list[str]) -> str:
    """Join items as English prose: 'a', 'a and b', 'a, b and c'."""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    """Indefinite article for the nouns in our tables (none start with a silent h)."""
    return "an" if word[0].lower() in "aeiou" else "a"


def _count_vowels(text: str) -> int:
    """Count a, e, i, o, u; 'y' is deliberately excluded, as the prompts say."""
    return sum(ch in "aeiou" for ch in text.lower())


def _is_prime(n: int) -> bool:
    """Trial division; our numbers are tiny."""
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def _divisors(n: int) -> list[int]:
    """All positive divisors of n in ascending order."""
    return [d for d in range(1, n + 1) if n % d == 0]


def _money(cents: int) -> str:
    """Format cents as dollars, e.g. 1250 -> '$12.50'."""
    return f"${cents // 100}.{cents % 100:02d}"


def _date_text(day: datetime.date) -> str:
    """English date without relying on the process locale, e.g. 'March 3, 2024'."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def _swap_adjacent(rng: random.Random, items: list[Any]) -> list[Any]:
    """Swap one pair of different neighbours: a near miss that looks almost right."""
    positions = [i for i in range(len(items) - 1) if items[i] != items[i + 1]]
    i = rng.choice(positions)
    out = list(items)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _truncate(text: str) -> str:
    """Cut an answer off mid-way, the classic 'ran out of tokens' failure."""
    words = text.split()
    return " ".join(words[: max(2, len(words) // 2)])


# ---------------------------------------------------------------------------
# Task generators: each returns a prompt with a correct and a wrong answer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One instruction with its correct output and a plausible wrong output."""

    instruction: str
    input: str
    output: str
    wrong: str

    @property
    def prompt(self) -> str:
        """Instruction and input as a single user message (for chat formats)."""
        return f"{self.instruction}\n\n{self.input}" if self.input else self.instruction


def _task_unit_conversion(rng: random.Random) -> Example:
    """Unit conversion; the slip divides where it should multiply."""
    conv = rng.choice(CONVERSIONS)
    value = rng.randint(conv.low, conv.high)
    result, slip = conv.convert(value), conv.mistake(value)
    question = rng.choice(
        (
            "Convert {v} {f} to {t}.",
            "How many {t} is {v} {f}?",
            "What is {v} {f} in {t}?",
        )
    ).format(v=value, f=conv.from_unit, t=conv.to_unit)
    answer = "{v} {f} {verb} {r} {t}."
    return Example(
        question,
        "",
        answer.format(v=value, f=conv.from_unit, verb=_approx_word(result), r=_fmt(result), t=conv.to_unit),
        answer.format(v=value, f=conv.from_unit, verb=_approx_word(slip), r=_fmt(slip), t=conv.to_unit),
    )


def _task_word_length(rng: random.Random) -> Example:
    """Letter count; the slip is off by one."""
    word = rng.choice(WORDS)
    question = rng.choice(
        (
            'How many letters are in the word "{w}"?',
            'Count the letters in "{w}".',
            'How long is the word "{w}", in letters?',
        )
    ).format(w=word)
    n = len(word)
    return Example(
        question, "", f'The word "{word}" has {n} letters.', f'The word "{word}" has {n + rng.choice((-1, 1))} letters.'
    )


def _task_reverse_word(rng: random.Random) -> Example:
    """Word reversal; the slip swaps two letters or forgets to reverse."""
    word = rng.choice(WORDS)
    instruction = rng.choice(
        (
            "Reverse the letters of the word below.",
            "Write the following word backwards.",
            "Spell this word in reverse order.",
        )
    )
    reversed_word = word[::-1]
    wrong = word if rng.random() < 0.25 else "".join(_swap_adjacent(rng, list(reversed_word)))
    return Example(instruction, word, reversed_word, wrong)


def _task_uppercase(rng: random.Random) -> Example:
    """Upper-casing; the slip stops two words early."""
    sentence = rng.choice(SENTENCES)
    instruction = rng.choice(
        (
            "Convert the following sentence to upper case.",
            "Rewrite this sentence using only capital letters.",
        )
    )
    words = sentence.split()
    half_done = " ".join([w.upper() for w in words[:-2]] + words[-2:])
    return Example(instruction, sentence, sentence.upper(), half_done)


def _task_sort_numbers(rng: random.Random) -> Example:
    """Sorting; the slip leaves one neighbouring pair out of order."""
    numbers = rng.sample(range(1, 100), rng.randint(4, 8))
    descending = rng.random() < 0.35
    instruction = (
        "Sort these numbers from largest to smallest."
        if descending
        else rng.choice(("Sort these numbers from smallest to largest.", "Put these numbers in ascending order."))
    )
    ordered = sorted(numbers, reverse=descending)
    return Example(
        instruction,
        ", ".join(map(str, numbers)),
        ", ".join(map(str, ordered)),
        ", ".join(map(str, _swap_adjacent(rng, ordered))),
    )


def _task_define(rng: random.Random) -> Example:
    """Definition lookup; the slip gives another term's definition."""
    (term, definition, _), (_, other_definition, _) = rng.sample(DEFINITIONS, 2)
    question = rng.choice(
        (
            'What does "{t}" mean?',
            'Define the term "{t}" in one sentence.',
            'Explain what "{t}" means.',
        )
    ).format(t=term)
    return Example(
        question,
        "",
        f'The term "{term}" refers to {definition}',
        f'The term "{term}" refers to {other_definition}',
    )


def _task_pluralize(rng: random.Random) -> Example:
    """Subject-verb agreement; the slip keeps the singular verb."""
    singular, plural = rng.choice(PLURAL_SUBJECTS)
    verb_s, verb = rng.choice(VERB_FORMS)
    obj = rng.choice(SENTENCE_OBJECTS)
    instruction = rng.choice(
        (
            "Rewrite the sentence so that its subject is plural.",
            "Change the subject of this sentence to the plural and fix the verb to match.",
        )
    )
    return Example(
        instruction,
        f"The {singular} {verb_s} the {obj}.",
        f"The {plural} {verb} the {obj}.",
        f"The {plural} {verb_s} the {obj}.",  # plural subject with a singular verb
    )


def _task_count_vowels(rng: random.Random) -> Example:
    """Vowel count; the slip is off by one."""
    word = rng.choice(WORDS)
    n = _count_vowels(word)
    question = rng.choice(
        (
            'How many vowels (a, e, i, o, u) are in the word "{w}"?',
            'Count the vowels a, e, i, o and u in "{w}".',
        )
    ).format(w=word)
    wrong_n = n - 1 if n > 1 and rng.random() < 0.5 else n + 1
    return Example(question, "", f'The word "{word}" has {n} vowels.', f'The word "{word}" has {wrong_n} vowels.')


def _task_word_problem(rng: random.Random) -> Example:
    """One-step word problem; the slip uses the wrong operation or is off."""
    name, pronoun = rng.choice(PEOPLE)
    items = rng.choice(COUNTABLE_ITEMS)
    kind = rng.choice(("add", "subtract", "multiply"))
    if kind == "add":
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        question = (
            f"{name} has {a} {items}. {pronoun.capitalize()} gets {b} more. How many {items} does {name} have now?"
        )
        right, wrong = a + b, a + b + rng.choice((-10, -1, 1, 10))
        template = f"{name} now has {{n}} {items}."
    elif kind == "subtract":
        a = rng.randint(10, 60)
        b = rng.randint(2, a - 2)
        question = f"{name} has {a} {items} and gives {b} of them to a friend. How many {items} are left?"
        right, wrong = a - b, a + b
        template = f"{name} has {{n}} {items} left."
    else:
        a, b = rng.randint(2, 9), rng.randint(3, 12)
        question = f"{name} buys {a} packs of {items} with {b} {items} in each pack. How many {items} is that in total?"
        right, wrong = a * b, a + b
        template = f"That is {{n}} {items} in total."
    return Example(question, "", template.format(n=right), template.format(n=wrong))


def _task_list_stats(rng: random.Random) -> Example:
    """Sum, extreme or average of a list; slips are near misses."""
    numbers = rng.sample(range(1, 60), rng.randint(4, 6))
    listed = _join_and([str(n) for n in numbers])
    stat = rng.choice(("sum", "largest", "smallest", "average"))
    if stat == "sum":
        right, wrong = str(sum(numbers)), str(sum(numbers) + rng.choice((-10, -2, 2, 10)))
        question, template = f"What is the sum of {listed}?", f"The sum of {listed} is {{x}}."
    elif stat == "largest":
        ranked = sorted(numbers)
        right, wrong = str(ranked[-1]), str(ranked[-2])
        question, template = f"Which is the largest of these numbers: {listed}?", "The largest number is {x}."
    elif stat == "smallest":
        ranked = sorted(numbers)
        right, wrong = str(ranked[0]), str(ranked[1])
        question, template = f"Which is the smallest of these numbers: {listed}?", "The smallest number is {x}."
    else:
        right = _fmt(sum(numbers) / len(numbers))
        wrong = _fmt(sum(numbers) / (len(numbers) - 1))  # divided by the wrong count
        question, template = f"What is the average of {listed}?", f"The average of {listed} is {{x}}."
    return Example(question, "", template.format(x=right), template.format(x=wrong))


def _task_capital(rng: random.Random) -> Example:
    """Capital city; the slip names another country's capital."""
    (country, capital), (_, other_capital) = rng.sample(CAPITALS, 2)
    question = rng.choice(
        ("What is the capital of {c}?", "Name the capital city of {c}.", "Which city is the capital of {c}?")
    )
    return Example(
        question.format(c=country),
        "",
        f"The capital of {country} is {capital}.",
        f"The capital of {country} is {other_capital}.",
    )


def _task_word_relation(rng: random.Random) -> Example:
    """Synonym or antonym; the slip gives the other one."""
    word, synonym, antonym = rng.choice(WORD_RELATIONS)
    if rng.random() < 0.5:
        question, right, wrong = f'Give a synonym for "{word}".', synonym, antonym
        template = f'A synonym for "{word}" is "{{x}}".'
    else:
        question, right, wrong = f'What is the opposite of "{word}"?', antonym, synonym
        template = f'The opposite of "{word}" is "{{x}}".'
    return Example(question, "", template.format(x=right), template.format(x=wrong))


def _task_number_property(rng: random.Random) -> Example:
    """Primality or parity; the slip flips the verdict."""
    n = rng.randint(2, 150)
    if rng.random() < 0.5:
        question = f"Is {n} a prime number?"
        smallest = next((d for d in range(2, n) if n % d == 0), None)
        prime_text = f"Yes. {n} is prime because its only divisors are 1 and {n}."
        if smallest is None:
            return Example(
                question, "", prime_text, f"No. {n} is not prime because it is divisible by {rng.choice((3, 7))}."
            )
        composite_text = f"No. {n} is not prime because {n} = {smallest} x {n // smallest}."
        return Example(question, "", composite_text, prime_text)
    even = n % 2 == 0
    texts = (
        f"{n} is even because it divides evenly by 2.",
        f"{n} is odd because it leaves a remainder of 1 when divided by 2.",
    )
    right, wrong = texts if even else texts[::-1]
    return Example(f"Is {n} even or odd?", "", right, wrong)


def _task_alphabetize(rng: random.Random) -> Example:
    """Alphabetical sort; the slip leaves one pair out of order."""
    words = rng.sample(WORDS, rng.randint(4, 6))
    instruction = rng.choice(("Sort these words in alphabetical order.", "Arrange the following words alphabetically."))
    ordered = sorted(words)
    return Example(instruction, ", ".join(words), ", ".join(ordered), ", ".join(_swap_adjacent(rng, ordered)))


def _task_count_words(rng: random.Random) -> Example:
    """Word count; the slip is off by one."""
    sentence = rng.choice(SENTENCES)
    n = len(sentence.split())
    instruction = rng.choice(("How many words are in this sentence?", "Count the words in the sentence below."))
    return Example(
        instruction, sentence, f"The sentence has {n} words.", f"The sentence has {n + rng.choice((-1, 1))} words."
    )


def _task_acronym(rng: random.Random) -> Example:
    """Acronym from initials; the slip drops or swaps a letter."""
    phrase = rng.choice(ACRONYM_PHRASES)
    acronym = "".join(word[0] for word in phrase.split()).upper()
    wrong = acronym[:-1] if rng.random() < 0.5 else "".join(_swap_adjacent(rng, list(acronym)))
    instruction = "Form an acronym from the first letter of each word."
    return Example(instruction, phrase, acronym, wrong)


def _task_weekday_offset(rng: random.Random) -> Example:
    """Weekday arithmetic modulo 7; the slip is off by one day."""
    start = rng.randrange(7)
    offset = rng.randint(1, 30)
    day, later = WEEKDAYS[start], WEEKDAYS[(start + offset) % 7]
    off_by_one = WEEKDAYS[(start + offset + rng.choice((-1, 1))) % 7]
    question = f"If today is {day}, what day of the week will it be in {offset} days?"
    template = f"In {offset} days it will be {{d}}."
    return Example(question, "", template.format(d=later), template.format(d=off_by_one))


def _plural(n: int, unit: str) -> str:
    """'1 hour' but '2 hours'."""
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _task_minutes_to_hours(rng: random.Random) -> Example:
    """Minutes to hours and minutes; the slip reads minutes as a clock time."""
    minutes = rng.choice([m for m in range(61, 600) if m % 60])
    hours, rest = divmod(minutes, 60)
    # The common slip reads the minutes as a decimal clock time (135 -> 1 h 35 min).
    slip_hours, slip_rest = divmod(minutes, 100)
    if slip_rest >= 60 or (slip_hours, slip_rest) == (hours, rest):
        slip_hours, slip_rest = hours + 1, rest
    template = f"{minutes} minutes is {{h}} and {{m}}."
    return Example(
        f"Convert {minutes} minutes to hours and minutes.",
        "",
        template.format(h=_plural(hours, "hour"), m=_plural(rest, "minute")),
        template.format(h=_plural(slip_hours, "hour"), m=_plural(slip_rest, "minute")),
    )


def _task_number_words(rng: random.Random) -> Example:
    """Number spelling; the slip spells a neighbouring number."""
    n = rng.randint(11, 999)
    wrong_n = n + rng.choice((-10, -1, 1, 10))
    return Example(
        rng.choice((f"Write the number {n} in words.", f"How do you spell {n} in English words?")),
        "",
        f'{n} is written "{number_to_words(n)}".',
        f'{n} is written "{number_to_words(wrong_n)}".',
    )


def _task_animal_class(rng: random.Random) -> Example:
    """Animal class; the slip is the usual confusion (a whale is not a fish)."""
    animal, group, confusion = rng.choice(ANIMAL_CLASSES)
    question = rng.choice(
        (
            "Is {a} {x} a mammal, bird, reptile, amphibian, fish or insect?",
            "Which group of animals does the {x} belong to?",
        )
    ).format(a=_article(animal), x=animal)
    template = f"{_article(animal).capitalize()} {animal} is {{a}} {{g}}."
    return Example(
        question,
        "",
        template.format(a=_article(group), g=group),
        template.format(a=_article(confusion), g=confusion),
    )


def _task_tips(rng: random.Random) -> Example:
    """Three tips on a topic; the slip is a truncated answer."""
    topic = rng.choice(sorted(TIPS))
    picks = sorted(rng.sample(range(len(TIPS[topic])), 3))
    answer = "\n".join(f"{i}. {TIPS[topic][p]}" for i, p in enumerate(picks, start=1))
    question = rng.choice(("Give me three tips for {t}.", "What are three practical tips for {t}?")).format(t=topic)
    return Example(question, "", answer, _truncate(answer.split("\n")[0]))


def _task_compare_decimals(rng: random.Random) -> Example:
    """Decimal comparison; the slip trusts the longer number."""
    tenths = rng.randint(1, 9)
    hundredths = rng.choice([h for h in range(11, 100) if h % 10])
    a, b = f"0.{tenths}", f"0.{hundredths}"
    bigger, smaller = (a, b) if tenths * 10 > hundredths else (b, a)
    question = f"Which number is larger, {a} or {b}?"
    return Example(question, "", f"{bigger} is larger than {smaller}.", f"{smaller} is larger than {bigger}.")


TaskFn = Callable[[random.Random], Example]

TASKS: tuple[TaskFn, ...] = (
    _task_unit_conversion,
    _task_word_length,
    _task_reverse_word,
    _task_uppercase,
    _task_sort_numbers,
    _task_define,
    _task_pluralize,
    _task_count_vowels,
    _task_word_problem,
    _task_list_stats,
    _task_capital,
    _task_word_relation,
    _task_number_property,
    _task_alphabetize,
    _task_count_words,
    _task_acronym,
    _task_weekday_offset,
    _task_minutes_to_hours,
    _task_number_words,
    _task_animal_class,
    _task_tips,
    _task_compare_decimals,
)

# Tasks a tool-equipped assistant should answer directly, without calling a tool.
NO_TOOL_TASKS: tuple[TaskFn, ...] = (
    _task_reverse_word,
    _task_define,
    _task_pluralize,
    _task_word_relation,
    _task_acronym,
    _task_animal_class,
    _task_tips,
    _task_alphabetize,
)


def _draw_examples(rng: random.Random, count: int, tasks: tuple[TaskFn, ...] = TASKS) -> list[Example]:
    """Draw `count` examples with distinct prompts, cycling through task types."""
    seen: set[str] = set()
    examples: list[Example] = []
    while len(examples) < count:
        example = rng.choice(tasks)(rng)
        if example.prompt not in seen:
            if example.output == example.wrong:
                raise AssertionError(f"wrong answer equals right answer: {example}")
            seen.add(example.prompt)
            examples.append(example)
    return examples


# ---------------------------------------------------------------------------
# Instruction-tuning, chat, preference and KTO datasets
# ---------------------------------------------------------------------------


def build_alpaca_demo(rng: random.Random, count: int = 300) -> list[Row]:
    """Alpaca rows; every row has the same keys so Arrow infers one schema."""
    rows = []
    for example in _draw_examples(rng, count):
        system = rng.choice(SYSTEM_PROMPTS) if rng.random() < 0.25 else ""
        history = []
        if rng.random() < 0.1:
            history = [[prior.prompt, prior.output] for prior in _draw_examples(rng, rng.randint(1, 2))]
        rows.append(
            {
                "instruction": example.instruction,
                "input": example.input,
                "output": example.output,
                "system": system,
                "history": history,
            }
        )
    return rows


FOLLOW_UP_OPENERS = ("", "Thanks! ", "Great. ", "One more question. ", "Next: ", "Okay. ")


def _chat_turns(rng: random.Random, examples: list[Example]) -> list[tuple[str, str]]:
    """(user, assistant) pairs; later questions get a conversational opener."""
    turns = []
    for i, example in enumerate(examples):
        opener = rng.choice(FOLLOW_UP_OPENERS) if i else ""
        turns.append((opener + example.prompt, example.output))
    return turns


def build_openai_messages(rng: random.Random, count: int = 60) -> list[Row]:
    """OpenAI-style role/content chats, 2-3 exchanges, usually with a system message."""
    rows = []
    for _ in range(count):
        messages = []
        if rng.random() < 0.8:
            messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        if rng.random() < 0.25:
            messages.append({"role": "user", "content": "Hi! Can you help me with a few quick questions?"})
            messages.append({"role": "assistant", "content": "Of course. What would you like to know?"})
        for user, assistant in _chat_turns(rng, _draw_examples(rng, rng.randint(2, 3))):
            messages.append({"role": "user", "content": user})
            messages.append({"role": "assistant", "content": assistant})
        rows.append({"messages": messages})
    return rows


def _rejected_for(rng: random.Random, example: Example) -> str:
    """Mostly the task's own slip; sometimes a truncated version of the right answer."""
    if len(example.output.split()) >= 6 and rng.random() < 0.15:
        return _truncate(example.output)
    return example.wrong


def build_preference_pairs(rng: random.Random, count: int = 300) -> list[Row]:
    """Alpaca-style ranking rows: chosen is correct, rejected is a plausible slip."""
    return [
        {"instruction": ex.instruction, "input": ex.input, "chosen": ex.output, "rejected": _rejected_for(rng, ex)}
        for ex in _draw_examples(rng, count)
    ]


def build_preference_sharegpt(rng: random.Random, count: int = 60) -> list[Row]:
    """ShareGPT ranking rows; the prompt conversation ends on a human turn (odd length)."""
    rows = []
    for _ in range(count):
        examples = _draw_examples(rng, rng.randint(1, 2))
        *context, final = examples
        conversations = []
        for user, assistant in _chat_turns(rng, context):
            conversations += [{"from": "human", "value": user}, {"from": "gpt", "value": assistant}]
        opener = rng.choice(FOLLOW_UP_OPENERS) if context else ""
        conversations.append({"from": "human", "value": opener + final.prompt})
        rows.append(
            {
                "conversations": conversations,
                "chosen": {"from": "gpt", "value": final.output},
                "rejected": {"from": "gpt", "value": _rejected_for(rng, final)},
            }
        )
    return rows


def build_kto(rng: random.Random, count: int = 300) -> list[Row]:
    """KTO rows: exactly half desirable (correct final answer), half undesirable."""
    labels = [i % 2 == 0 for i in range(count)]
    rng.shuffle(labels)
    rows = []
    for label in labels:
        examples = _draw_examples(rng, 2 if rng.random() < 0.2 else 1)
        *context, final = examples
        messages = []
        for user, assistant in _chat_turns(rng, context):
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        opener = rng.choice(FOLLOW_UP_OPENERS) if context else ""
        messages.append({"role": "user", "content": opener + final.prompt})
        # Undesirable answers are genuine slips only: a truncated-but-true answer is not "wrong".
        messages.append({"role": "assistant", "content": final.output if label else final.wrong})
        rows.append({"messages": messages, "label": label})
    return rows


# ---------------------------------------------------------------------------
# Learnable preferences: the same correct answer, a polite or a rude closing
# ---------------------------------------------------------------------------

# The only difference between a preferred and a dispreferred answer is the tone of
# one closing sentence. That is a surface feature a tiny randomly initialised model
# picks up in a few hundred steps, and it carries over to prompts it never saw, so
# reward-model, DPO, KTO and PPO learning checks have a signal they can show.
POLITE_CLOSINGS = (
    "I hope this helps!",
    "Happy to help, have a great day.",
    "Thanks for asking, and good luck!",
    "Glad I could help. Feel free to ask more.",
)
RUDE_CLOSINGS = (
    "Now stop bothering me.",
    "Honestly, that was a silly question.",
    "Look it up yourself next time.",
    "Don't waste my time again.",
)


def _with_closing(answer: str, closing: str) -> str:
    """The answer, one space, then the closing sentence."""
    return f"{answer} {closing}"


def _held_out_examples(rng: random.Random, train_size: int, test_size: int) -> tuple[list[Example], list[Example]]:
    """One draw of distinct prompts split in two, so no test prompt is also a train prompt."""
    examples = _draw_examples(rng, test_size + train_size)
    return examples[test_size:], examples[:test_size]


def build_style_pref_splits(
    rng: random.Random, train_size: int = 600, test_size: int = 100
) -> tuple[list[Row], list[Row]]:
    """Alpaca ranking rows: both sides hold the correct answer; chosen closes politely, rejected rudely."""
    train, test = _held_out_examples(rng, train_size, test_size)

    def rows(examples: list[Example]) -> list[Row]:
        return [
            {
                "instruction": ex.instruction,
                "input": ex.input,
                "chosen": _with_closing(ex.output, rng.choice(POLITE_CLOSINGS)),
                "rejected": _with_closing(ex.output, rng.choice(RUDE_CLOSINGS)),
            }
            for ex in examples
        ]

    return rows(train), rows(test)


def _pairwise_balanced_labels(rng: random.Random, count: int) -> list[bool]:
    """Each consecutive pair holds one True and one False in random order: balanced and interleaved."""
    labels: list[bool] = []
    for _ in range(count // 2):
        first = rng.random() < 0.5
        labels += [first, not first]
    return labels


def build_style_kto_splits(
    rng: random.Random, train_size: int = 600, test_size: int = 100
) -> tuple[list[Row], list[Row]]:
    """KTO rows: the correct answer with a polite closing (label true) or a rude one (label false)."""
    if train_size % 2 or test_size % 2:
        raise ValueError("KTO split sizes must be even so that labels balance exactly")
    train, test = _held_out_examples(rng, train_size, test_size)

    def rows(examples: list[Example]) -> list[Row]:
        out = []
        for ex, label in zip(examples, _pairwise_balanced_labels(rng, len(examples)), strict=True):
            closing = rng.choice(POLITE_CLOSINGS if label else RUDE_CLOSINGS)
            messages = [
                {"role": "user", "content": ex.prompt},
                {"role": "assistant", "content": _with_closing(ex.output, closing)},
            ]
            out.append({"messages": messages, "label": label})
        return out

    return rows(train), rows(test)


# ---------------------------------------------------------------------------
# Tool-use conversations (sharegpt with function_call / observation turns)
# ---------------------------------------------------------------------------

_STRING = {"type": "string"}

TOOL_SPECS: dict[str, dict[str, Any]] = {
    "calculator": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression made of integers, +, -, * and parentheses, and return the exact result.",
        "parameters": {
            "type": "object",
            "properties": {
                "expression": {**_STRING, "description": 'The expression to evaluate, for example "(3 + 4) * 5".'}
            },
            "required": ["expression"],
        },
    },
    "get_weather": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {**_STRING, "description": 'Name of the city, for example "Oslo".'},
                "unit": {
                    **_STRING,
                    "enum": ["celsius", "fahrenheit"],
                    "description": "Temperature unit. Defaults to celsius.",
                },
            },
            "required": ["city"],
        },
    },
    "unit_convert": {
        "name": "unit_convert",
        "description": "Convert a quantity from one unit to another.",
        "parameters": {
            "type": "object",
            "properties": {
                "value": {"type": "number", "description": "The quantity to convert."},
                "from_unit": {**_STRING, "description": 'Unit of the given value, for example "miles".'},
                "to_unit": {**_STRING, "description": 'Unit to convert into, for example "kilometers".'},
            },
            "required": ["value", "from_unit", "to_unit"],
        },
    },
    "lookup_capital": {
        "name": "lookup_capital",
        "description": "Look up the capital city of a country.",
        "parameters": {
            "type": "object",
            "properties": {"country": {**_STRING, "description": "English name of the country."}},
            "required": ["country"],
        },
    },
    "days_between": {
        "name": "days_between",
        "description": "Count the days from one calendar date to another.",
        "parameters": {
            "type": "object",
            "properties": {
                "start_date": {**_STRING, "description": "Start date in YYYY-MM-DD format."},
                "end_date": {**_STRING, "description": "End date in YYYY-MM-DD format."},
            },
            "required": ["start_date", "end_date"],
        },
    },
}

TOOL_BLURBS = {
    "calculator": "do exact arithmetic",
    "get_weather": "check the current weather in a city",
    "unit_convert": "convert between units",
    "lookup_capital": "look up capital cities",
    "days_between": "count the days between two dates",
}

TOOL_SYSTEM_PROMPTS = (
    "You are a helpful assistant with access to tools. Call a tool when it helps you answer accurately.",
    "You are an assistant that can call functions. Use them for facts and calculations, then answer briefly.",
    "Use the available tools when needed and explain the result to the user in plain language.",
)

COLD_CONDITIONS = ("snowy", "clear and frosty", "overcast", "foggy")
MILD_CONDITIONS = ("sunny", "partly cloudy", "overcast", "rainy", "foggy", "windy", "stormy", "drizzly")
HOT_CONDITIONS = ("sunny", "partly cloudy", "hazy", "humid", "stormy")
WET_CONDITIONS = ("rainy", "stormy", "drizzly")
WEATHER_CITIES = tuple(capital for _, capital in CAPITALS) + (
    "Chicago",
    "Mumbai",
    "Cape Town",
    "Vancouver",
    "Osaka",
    "Marseille",
)


def tool_get_weather(city: str, unit: str = "celsius") -> Row:
    """Fake but stable weather: seeded by the city name, so repeated calls agree."""
    r = random.Random(zlib.crc32(city.encode("utf-8")))
    celsius = r.randint(-8, 34)
    condition = r.choice(COLD_CONDITIONS if celsius <= 1 else HOT_CONDITIONS if celsius >= 27 else MILD_CONDITIONS)
    humidity, wind = r.randint(25, 95), r.randint(0, 45)
    temperature = celsius if unit == "celsius" else round(celsius * 9 / 5 + 32)
    return {
        "city": city,
        "temperature": temperature,
        "unit": unit,
        "condition": condition,
        "humidity_percent": humidity,
        "wind_kph": wind,
    }


def tool_lookup_capital(country: str) -> Row:
    """Capital from our table."""
    return {"country": country, "capital": CAPITAL_OF[country]}


def _find_conversion(from_unit: str, to_unit: str) -> Conversion:
    """The CONVERSIONS entry for a unit pair (the table is small, a scan is fine)."""
    return next(c for c in CONVERSIONS if (c.from_unit, c.to_unit) == (from_unit, to_unit))


def tool_unit_convert(value: float, from_unit: str, to_unit: str) -> Row:
    """Conversion from the shared CONVERSIONS table, rounded like a real API would."""
    exact = _find_conversion(from_unit, to_unit).convert(value)
    return {"value": value, "from_unit": from_unit, "to_unit": to_unit, "result": round(exact, 2)}


def tool_days_between(start: datetime.date, end: datetime.date) -> Row:
    """Exact day count between two dates."""
    return {"start_date": start.isoformat(), "end_date": end.isoformat(), "days": (end - start).days}


# (expression template, spoken template, evaluator)
CALC_FORMS: tuple[tuple[str, str, Callable[[int, int, int], int]], ...] = (
    ("{a} * {b}", "{a} times {b}", lambda a, b, c: a * b),
    ("{a} * {b} + {c}", "{a} times {b}, plus {c}", lambda a, b, c: a * b + c),
    ("({a} + {b}) * {c}", "the sum of {a} and {b}, multiplied by {c}", lambda a, b, c: (a + b) * c),
    ("{a} - {b} * {c}", "{a} minus {b} times {c}", lambda a, b, c: a - b * c),
    ("{a} * {b} - {c}", "{a} times {b}, minus {c}", lambda a, b, c: a * b - c),
    ("{a} + {b} + {c}", "{a} plus {b} plus {c}", lambda a, b, c: a + b + c),
)


def _human(text: str) -> Row:
    """A user turn in sharegpt's from/value form."""
    return {"from": "human", "value": text}


def _gpt(text: str) -> Row:
    """An assistant text turn in sharegpt's from/value form."""
    return {"from": "gpt", "value": text}


def _function_call(calls: list[Row]) -> Row:
    """One call as an object, parallel calls as a list, both JSON-encoded."""
    payload = calls[0] if len(calls) == 1 else calls
    return {"from": "function_call", "value": json.dumps(payload, ensure_ascii=False)}


def _observation(results: list[Row]) -> Row:
    """Tool results in call order; parallel calls return a JSON list."""
    payload = results[0] if len(results) == 1 else results
    return {"from": "observation", "value": json.dumps(payload, ensure_ascii=False)}


def _call(name: str, **arguments: Any) -> Row:
    """A tool call; arguments stay a dict so the whole call is JSON-encoded once."""
    return {"name": name, "arguments": arguments}


def _weather_sentence(w: Row) -> str:
    """Describe a get_weather result in one sentence."""
    symbol = "°C" if w["unit"] == "celsius" else "°F"
    return (
        f"In {w['city']} it is currently {w['temperature']}{symbol} and {w['condition']}, "
        f"with {w['humidity_percent']}% humidity and wind around {w['wind_kph']} km/h."
    )


def _compare_temperatures(first: Row, second: Row) -> str:
    """Say which of two same-unit readings is warmer, and by how much."""
    diff = first["temperature"] - second["temperature"]
    if diff == 0:
        return f"{first['city']} and {second['city']} are at the same temperature right now."
    warmer, colder = (first, second) if diff > 0 else (second, first)
    return f"{warmer['city']} is {abs(diff)} degrees warmer than {colder['city']}."


def _scenario_weather(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Single weather call, sometimes with a no-tool follow-up about an umbrella."""
    city = rng.choice(WEATHER_CITIES)
    unit = "fahrenheit" if rng.random() < 0.3 else "celsius"
    question = rng.choice(
        (
            "What's the weather like in {c} right now?",
            "How is the weather in {c} today?",
            "Can you check the weather in {c}?",
        )
    ).format(c=city)
    if unit == "fahrenheit":
        question += " Please give the temperature in Fahrenheit."
    args = {"city": city} if unit == "celsius" else {"city": city, "unit": unit}
    weather = tool_get_weather(city, unit)
    turns = [
        _human(question),
        _function_call([_call("get_weather", **args)]),
        _observation([weather]),
        _gpt(_weather_sentence(weather)),
    ]
    if rng.random() < 0.5:
        wet = weather["condition"] in WET_CONDITIONS
        answer = (
            f"Yes, it is {weather['condition']} in {city}, so an umbrella is a good idea."
            if wet
            else f"You probably won't need one: it is {weather['condition']} in {city}, with no rain reported."
        )
        turns += [_human("Should I take an umbrella?"), _gpt(answer)]
    return turns, ["get_weather"]


def _scenario_calculator(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Single calculator call from either a spoken expression or a word problem."""
    a, b, c = rng.randint(2, 60), rng.randint(2, 30), rng.randint(2, 20)
    if rng.random() < 0.5:
        expr_t, spoken_t, fn = rng.choice(CALC_FORMS)
        expression, result = expr_t.format(a=a, b=b, c=c), fn(a, b, c)
        question = f"Can you calculate {spoken_t.format(a=a, b=b, c=c)}?"
        answer = f"{expression} = {result}."
    elif rng.random() < 0.5:
        expression, result = f"{a} * {b} + {c}", a * b + c
        question = f"A hall has {a} rows with {b} seats in each row, plus {c} folding chairs at the back. How many seats are there in total?"
        answer = f"There are {result} seats in total ({a} rows of {b} is {a * b}, plus {c} chairs)."
    else:
        price, tickets = rng.randint(3, 15), rng.randint(2, 6)
        budget = price * tickets + rng.randint(1, 50)
        expression, result = f"{budget} - {price} * {tickets}", budget - price * tickets
        question = f"I have {budget} dollars and buy {tickets} tickets that cost {price} dollars each. How much money do I have left?"
        answer = f"You will have {result} dollars left, since {tickets} tickets cost {price * tickets} dollars."
    call = _call("calculator", expression=expression)
    observation = {"expression": expression, "result": result}
    return [_human(question), _function_call([call]), _observation([observation]), _gpt(answer)], ["calculator"]


def _convert_request(rng: random.Random) -> tuple[Row, Row, str]:
    """A unit_convert call, its result and a sentence reporting it."""
    conv = rng.choice(CONVERSIONS)
    value = rng.randint(conv.low, conv.high)
    result = tool_unit_convert(value, conv.from_unit, conv.to_unit)
    sentence = f"{value} {conv.from_unit} {_approx_word(conv.convert(value))} {_fmt(result['result'])} {conv.to_unit}"
    return _call("unit_convert", value=value, from_unit=conv.from_unit, to_unit=conv.to_unit), result, sentence


def _scenario_convert(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Single unit_convert call."""
    call, result, sentence = _convert_request(rng)
    args = call["arguments"]
    question = f"How many {args['to_unit']} is {args['value']} {args['from_unit']}?"
    return [_human(question), _function_call([call]), _observation([result]), _gpt(sentence + ".")], ["unit_convert"]


def _scenario_capital(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Single lookup_capital call."""
    country = rng.choice(CAPITALS)[0]
    result = tool_lookup_capital(country)
    question = rng.choice(("What is the capital of {c}?", "Which city is the capital of {c}?")).format(c=country)
    return (
        [
            _human(question),
            _function_call([_call("lookup_capital", country=country)]),
            _observation([result]),
            _gpt(f"The capital of {country} is {result['capital']}."),
        ],
        ["lookup_capital"],
    )


def _scenario_days(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Single days_between call; dates are spelled out without the locale."""
    start = datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randint(0, 700))
    end = start + datetime.timedelta(days=rng.randint(1, 400))
    result = tool_days_between(start, end)
    question = f"How many days are there from {_date_text(start)} to {_date_text(end)}?"
    call = _call("days_between", start_date=start.isoformat(), end_date=end.isoformat())
    answer = f"There are {result['days']} days from {_date_text(start)} to {_date_text(end)}."
    return [_human(question), _function_call([call]), _observation([result]), _gpt(answer)], ["days_between"]


def _scenario_parallel_weather(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Two or three weather calls issued in one parallel function_call turn."""
    cities = rng.sample(WEATHER_CITIES, rng.randint(2, 3))
    results = [tool_get_weather(city) for city in cities]
    question = f"Compare the weather in {_join_and(cities)} right now."
    lines = [_weather_sentence(w) for w in results]
    if len(results) == 2:
        summary = _compare_temperatures(*results)
    else:
        warmest = max(results, key=lambda w: w["temperature"])
        ties = [w["city"] for w in results if w["temperature"] == warmest["temperature"]]
        summary = (
            f"{warmest['city']} is the warmest at {warmest['temperature']}°C."
            if len(ties) == 1
            else f"{_join_and(ties)} are tied for warmest at {warmest['temperature']}°C."
        )
    calls = [_call("get_weather", city=city) for city in cities]
    return [_human(question), _function_call(calls), _observation(results), _gpt(" ".join(lines + [summary]))], [
        "get_weather"
    ]


def _scenario_parallel_capitals(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Parallel lookup_capital calls answered in one sentence."""
    countries = [country for country, _ in rng.sample(CAPITALS, rng.randint(2, 3))]
    results = [tool_lookup_capital(country) for country in countries]
    question = f"What are the capitals of {_join_and(countries)}?"
    answer = _join_and([f"the capital of {r['country']} is {r['capital']}" for r in results])
    calls = [_call("lookup_capital", country=country) for country in countries]
    return [
        _human(question),
        _function_call(calls),
        _observation(results),
        _gpt(answer[0].upper() + answer[1:] + "."),
    ], ["lookup_capital"]


def _scenario_parallel_convert(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Two independent conversions issued as one parallel call."""
    requests = [_convert_request(rng) for _ in range(2)]
    asks = [
        f"{c['arguments']['value']} {c['arguments']['from_unit']} to {c['arguments']['to_unit']}"
        for c, _, _ in requests
    ]
    question = f"Please convert {asks[0]}, and also {asks[1]}."
    answer = f"{requests[0][2]}, and {requests[1][2]}."
    return (
        [
            _human(question),
            _function_call([c for c, _, _ in requests]),
            _observation([r for _, r, _ in requests]),
            _gpt(answer),
        ],
        ["unit_convert"],
    )


def _scenario_capital_then_weather(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Two dependent steps: the weather call needs the capital found by the first call."""
    country = rng.choice(CAPITALS)[0]
    capital = tool_lookup_capital(country)
    weather = tool_get_weather(capital["capital"])
    question = f"What's the weather like in the capital of {country} today?"
    answer = f"The capital of {country} is {capital['capital']}. {_weather_sentence(weather)}"
    return (
        [
            _human(question),
            _function_call([_call("lookup_capital", country=country)]),
            _observation([capital]),
            _function_call([_call("get_weather", city=capital["capital"])]),
            _observation([weather]),
            _gpt(answer),
        ],
        ["lookup_capital", "get_weather"],
    )


def _scenario_sum_then_convert(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Two dependent steps: add two quantities, then convert the total."""
    a, b = rng.randint(2, 25), rng.randint(2, 25)
    if rng.random() < 0.5:
        question = f"I ran {a} miles on Saturday and {b} miles on Sunday. How far is that in kilometers?"
        unit, target, lead = "miles", "kilometers", "You ran"
    else:
        question = f"My two suitcases weigh {a} and {b} pounds. What is their total weight in kilograms?"
        unit, target, lead = "pounds", "kilograms", "Together the suitcases weigh"
    expression = f"{a} + {b}"
    total = {"expression": expression, "result": a + b}
    converted = tool_unit_convert(a + b, unit, target)
    verb = _approx_word(_find_conversion(unit, target).convert(a + b))
    answer = f"{lead} {a + b} {unit} in total, which {verb} {_fmt(converted['result'])} {target}."
    return (
        [
            _human(question),
            _function_call([_call("calculator", expression=expression)]),
            _observation([total]),
            _function_call([_call("unit_convert", value=a + b, from_unit=unit, to_unit=target)]),
            _observation([converted]),
            _gpt(answer),
        ],
        ["calculator", "unit_convert"],
    )


def _scenario_weather_follow_up(rng: random.Random) -> tuple[list[Row], list[str]]:
    """A second human turn that needs a fresh tool call."""
    first_city, second_city = rng.sample(WEATHER_CITIES, 2)
    first, second = tool_get_weather(first_city), tool_get_weather(second_city)
    return (
        [
            _human(f"What's the weather in {first_city}?"),
            _function_call([_call("get_weather", city=first_city)]),
            _observation([first]),
            _gpt(_weather_sentence(first)),
            _human(f"And how about {second_city}?"),
            _function_call([_call("get_weather", city=second_city)]),
            _observation([second]),
            _gpt(f"{_weather_sentence(second)} {_compare_temperatures(second, first)}"),
        ],
        ["get_weather"],
    )


def _scenario_no_tool_needed(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Tools are offered but the questions are answered directly."""
    tool_names = sorted(rng.sample(sorted(TOOL_SPECS), 2))
    blurbs = _join_and([TOOL_BLURBS[name] for name in tool_names])
    turns = [
        _human("Hello! What can you help me with?"),
        _gpt(f"Hi! I can answer general questions, and I can also {blurbs}. What would you like to do?"),
    ]
    for user, assistant in _chat_turns(rng, _draw_examples(rng, rng.randint(1, 2), NO_TOOL_TASKS)):
        turns += [_human(user), _gpt(assistant)]
    return turns, tool_names


def _scenario_plain_chat(rng: random.Random) -> tuple[list[Row], list[str]]:
    """Ordinary multi-turn chat with no tools at all."""
    turns = []
    for user, assistant in _chat_turns(rng, _draw_examples(rng, rng.randint(2, 3))):
        turns += [_human(user), _gpt(assistant)]
    return turns, []


# How many rows of each scenario sharegpt_tools.json gets (sums to 120).
TOOL_SCENARIO_PLAN: tuple[tuple[Callable[[random.Random], tuple[list[Row], list[str]]], int], ...] = (
    (_scenario_weather, 12),
    (_scenario_calculator, 12),
    (_scenario_convert, 10),
    (_scenario_capital, 8),
    (_scenario_days, 8),
    (_scenario_parallel_weather, 10),
    (_scenario_parallel_capitals, 6),
    (_scenario_parallel_convert, 6),
    (_scenario_capital_then_weather, 10),
    (_scenario_sum_then_convert, 8),
    (_scenario_weather_follow_up, 10),
    (_scenario_no_tool_needed, 10),
    (_scenario_plain_chat, 10),
)


def _tools_json(rng: random.Random, needed: list[str]) -> str:
    """JSON list of the needed tool specs plus up to two distractors, in shuffled order."""
    if not needed:
        return ""
    others = [name for name in sorted(TOOL_SPECS) if name not in needed]
    names = list(needed) + rng.sample(others, rng.randint(0, 2))
    rng.shuffle(names)
    return json.dumps([TOOL_SPECS[name] for name in names], ensure_ascii=False)


def build_sharegpt_tools(rng: random.Random) -> list[Row]:
    """Tool-use and plain chats in sharegpt format, with the scenario order shuffled."""
    plan = [scenario for scenario, n in TOOL_SCENARIO_PLAN for _ in range(n)]
    rng.shuffle(plan)
    rows = []
    for scenario in plan:
        conversations, tool_names = scenario(rng)
        if tool_names:
            system = rng.choice(TOOL_SYSTEM_PROMPTS)
        else:
            system = rng.choice(SYSTEM_PROMPTS) if rng.random() < 0.5 else ""
        rows.append({"conversations": conversations, "system": system, "tools": _tools_json(rng, tool_names)})
    return rows


# ---------------------------------------------------------------------------
# Pre-training prose
# ---------------------------------------------------------------------------

TOWN_HEADS = (
    "Bram",
    "Ash",
    "Kel",
    "Thorn",
    "Wil",
    "Mar",
    "Dun",
    "Hol",
    "Fen",
    "Gal",
    "Orr",
    "Pen",
    "Quill",
    "Rook",
    "Sel",
    "Tam",
    "Vel",
    "Wren",
    "Yar",
    "Cor",
    "Elm",
    "Brig",
    "Lun",
    "Mor",
)
TOWN_TAILS = (
    "ble",
    "ling",
    "ver",
    "wick",
    "den",
    "ton",
    "mere",
    "ford",
    "by",
    "stead",
    "wyn",
    "holt",
    "more",
    "bridge",
    "field",
    "haven",
    "combe",
    "gate",
    "brook",
    "shaw",
)
RIVERS = ("Ember", "Silvan", "Larkwater", "Idle", "Wending", "Corrie", "Sallow", "Brisk")
HILLS = ("Grey", "Copper", "Whistling", "Bracken", "Long", "Seven Sisters")
TOWN_SIZES = ("small", "quiet", "busy", "sleepy", "lively", "windswept", "tidy", "old")
TOWN_SETTINGS = (
    "on the banks of the {river} River",
    "at the foot of the {hills} Hills",
    "on a rocky stretch of the northern coast",
    "at the edge of a wide pine forest",
    "beside a cold, deep lake",
    "in a valley of orchards and vineyards",
    "on a plateau above the {river} River",
    "where two old trade roads meet",
)
INDUSTRIES = (
    "fishing",
    "weaving",
    "pottery",
    "farming",
    "boat building",
    "cheese making",
    "timber",
    "glassblowing",
    "tourism",
    "printing",
    "beekeeping",
    "stone carving",
    "apple growing",
    "wool spinning",
)
LANDMARKS = (
    "a stone chapel with a crooked bell tower",
    "a covered bridge painted deep red",
    "a round granary on the market square",
    "a watermill that still grinds flour",
    "a lighthouse that now serves as a museum",
    "a library built from salvaged ship timber",
    "a clock tower that runs five minutes fast",
    "an old customs house by the harbor",
)
FESTIVALS = (
    ("the Lantern Festival", "paper lanterns are floated down the river"),
    ("the Harvest Fair", "farmers compete to grow the heaviest pumpkin"),
    ("Kite Day", "families fly homemade kites from the hilltop"),
    ("the Midwinter Market", "stalls sell roasted chestnuts and woolen mittens"),
    ("the Boat Parade", "fishing boats are decorated with flags and flowers"),
    ("Music Week", "bands play in every courtyard until midnight"),
    ("the Bread Festival", "bakers share loaves shaped like animals"),
    ("Founders' Day", "children act out the arrival of the first settlers"),
)
LOCAL_FOODS = (
    "smoked trout",
    "honey cakes",
    "apple cider",
    "blackberry pie",
    "barley soup",
    "goat cheese",
    "walnut bread",
    "plum dumplings",
    "roasted chestnuts",
    "mushroom pies",
)
TOWN_SPOTS = (
    "old mill",
    "harbor wall",
    "town hall",
    "train station",
    "village green",
    "north gate",
    "fountain",
    "riverside path",
)


def _town_name(rng: random.Random) -> str:
    """Invented place names (head + tail syllables), so no real town is described."""
    return rng.choice(TOWN_HEADS) + rng.choice(TOWN_TAILS)


def _prose_town(rng: random.Random) -> str:
    """A gazetteer-style description of an invented town."""
    name = _town_name(rng)
    setting = rng.choice(TOWN_SETTINGS).format(river=rng.choice(RIVERS), hills=rng.choice(HILLS))
    industry_a, industry_b = rng.sample(INDUSTRIES, 2)
    festival, activity = rng.choice(FESTIVALS)
    sentences = [
        f"{name} is a {rng.choice(TOWN_SIZES)} town {setting}.",
        f"About {rng.randint(800, 60000):,} people live there, and most of them work in {industry_a} or {industry_b}.",
        f"The best-known building is {rng.choice(LANDMARKS)}, which was finished in {rng.randint(1620, 1960)}.",
        f"Every {rng.choice(MONTHS)}, visitors arrive for {festival}, when {activity}.",
        f"Anyone passing through should try the {rng.choice(LOCAL_FOODS)} sold near the {rng.choice(TOWN_SPOTS)}.",
    ]
    if rng.random() < 0.5:
        distance, speed = rng.randint(12, 140), rng.choice((40, 50, 60, 80))
        minutes = round(distance / speed * 60)
        sentences.insert(
            2,
            f"It lies {distance} kilometers from {_town_name(rng)}, about {minutes} minutes away by bus at {speed} kilometers per hour.",
        )
    return " ".join(sentences)


def _prose_arithmetic(rng: random.Random) -> str:
    """Arithmetic written out in words and then in digits."""
    w = number_to_words
    if rng.random() < 0.5:
        k = rng.randint(2, 12)
        lines = [f"{w(k)} times {w(i)} is {w(k * i)}" for i in range(1, 6)]
        return (
            f"Here is the start of the {w(k)} times table. " + ". ".join(s.capitalize() for s in lines) + ". "
            f"Each step adds another {w(k)}, so the next answer, {w(k)} times six, is {w(k * 6)}."
        )
    a, b = rng.randint(2, 30), rng.randint(2, 30)
    total = a + b
    c = rng.randint(1, total - 1)
    d, m = total - c, rng.randint(2, 5)
    return (
        f"{w(a).capitalize()} plus {w(b)} equals {w(total)}. If we take away {w(c)}, we are left with {w(d)}. "
        f"Multiplying {w(d)} by {w(m)} gives {w(d * m)}. "
        f"Written with digits, that is {a} + {b} = {total}, {total} - {c} = {d}, and {d} x {m} = {d * m}."
    )


def _prose_number_facts(rng: random.Random) -> str:
    """Properties of one whole number, all computed."""
    n = rng.randint(2, 200)
    divisors = _divisors(n)
    parity = "even" if n % 2 == 0 else "odd"
    sentences = [f"The number {n} is {parity}."]
    if _is_prime(n):
        sentences.append(f"It is a prime number, because its only divisors are 1 and {n}.")
    else:
        sentences.append(f"Its divisors are {_join_and([str(d) for d in divisors])}, so it is not prime.")
    root = round(n**0.5)
    if root * root == n:
        sentences.append(
            f"It is a perfect square, because {number_to_words(root)} times {number_to_words(root)} is {number_to_words(n)}."
        )
    sentences.append(f"The sum of its digits is {sum(map(int, str(n)))}, and doubling it gives {2 * n}.")
    sentences.append(f"In words, it is written {number_to_words(n)}.")
    return " ".join(sentences)


MORNING_DRY = ("under clear skies", "with thick fog in the valleys", "bright and breezy", "under thin high cloud")
MORNING_WET = ("with light drizzle", "under heavy gray clouds", "with a steady rain")
MORNING_COLD = ("with a sharp frost", "under a thin layer of fresh snow", "with freezing fog")
AFTERNOON_DRY = ("The sun should break through after lunch", "The afternoon will stay dry and calm")
AFTERNOON_WET = ("Clouds will thicken during the afternoon", "Showers will come and go through the afternoon")
WIND_DIRECTIONS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")


def _prose_weather(rng: random.Random) -> str:
    """A local weather report with Fahrenheit values computed from Celsius."""
    town, day = _town_name(rng), rng.choice(WEEKDAYS)
    low = rng.randint(-6, 22)
    high = low + rng.randint(2, 9)
    rain = rng.randrange(0, 100, 5)
    wet = rain >= 50  # keep the wording consistent with the stated chance of rain
    morning = rng.choice(MORNING_COLD if low <= 1 else MORNING_WET if wet else MORNING_DRY)
    afternoon = rng.choice(AFTERNOON_WET if wet else AFTERNOON_DRY)
    advice = (
        "Carry an umbrella if you are heading out."
        if rain >= 60
        else "It should be a good day to dry laundry outdoors."
        if rain < 20
        else "A light jacket should be enough."
    )
    if low <= 1:
        advice += " Roads may be icy early in the day."
    return (
        f"Weather for {town} on {day}: the day begins {morning}, at {low} degrees Celsius "
        f"({_fmt(low * 9 / 5 + 32)} degrees Fahrenheit). {afternoon}, and the high will reach {high} degrees. "
        f"Winds from the {rng.choice(WIND_DIRECTIONS)} at about {rng.randint(3, 40)} kilometers per hour, "
        f"and the chance of rain is {rain} percent. {advice}"
    )


NATURE = {
    "time": ("dawn", "first light", "midday", "dusk", "twilight", "the end of a long afternoon"),
    "adj": ("young", "cautious", "silver-coated", "quick", "weathered", "curious", "lean", "sleepy"),
    "animal": ("fox", "hare", "badger", "otter", "deer", "beaver", "squirrel", "hedgehog", "stoat", "marten"),
    "moved": ("slipped", "wandered", "hurried", "crept", "trotted", "ambled"),
    "place": (
        "frozen meadow",
        "reed bed",
        "orchard",
        "gravel path",
        "clearing",
        "riverbank",
        "wheat field",
        "mossy slope",
    ),
    "object": (
        "a fallen birch",
        "an old stone wall",
        "a patch of clover",
        "a rusted gate",
        "a shallow pool",
        "a pile of autumn leaves",
    ),
    "action": (
        "listened for a long moment",
        "sniffed the damp air",
        "watched the sky",
        "nibbled at something in the grass",
        "shook the water from its coat",
    ),
    "landform": ("ridge", "hedgerow", "dark line of spruce", "marsh", "far bank"),
    "sound": (
        "a church bell rang twice",
        "a dog barked at nothing",
        "the wind rattled a loose shutter",
        "geese called as they flew south",
        "a tractor coughed into life",
    ),
    "exit": (
        "vanished into the undergrowth",
        "turned back the way it had come",
        "disappeared behind the wall",
        "moved on toward the water",
    ),
}


def _prose_nature(rng: random.Random) -> str:
    """A short nature vignette; rich in nouns and verbs for tokenizer training."""
    p = {key: rng.choice(options) for key, options in NATURE.items()}
    return (
        f"At {p['time']}, a {p['adj']} {p['animal']} {p['moved']} across the {p['place']}. "
        f"It stopped beside {p['object']} and {p['action']}. Somewhere beyond the {p['landform']}, {p['sound']}. "
        f"After a while the {p['animal']} {p['exit']}, and the {p['place']} was still again."
    )


PROCEDURES = {
    "brew a pot of tea": (
        "warm the teapot with a splash of hot water",
        "add one spoon of loose leaves for each cup",
        "pour in water that has just come off the boil",
        "let it steep for three to five minutes",
        "strain the tea into cups and add milk or lemon if you like",
    ),
    "repot a houseplant": (
        "choose a pot slightly wider than the old one",
        "water the plant a day before so the roots hold together",
        "ease the plant out and loosen the outer roots",
        "set it on fresh soil and fill in around the sides",
        "water it well and keep it out of strong sun for a week",
    ),
    "patch a bicycle tube": (
        "take the wheel off and lever the tire away from the rim",
        "find the hole by listening for hissing air",
        "roughen the area around the hole with sandpaper",
        "spread a thin layer of glue and wait until it turns tacky",
        "press the patch on firmly and refit the tube",
    ),
    "plan a weekly budget": (
        "write down your income for the week",
        "list fixed costs such as rent and transport",
        "set a limit for food and small purchases",
        "put a fixed amount aside as savings first",
        "check your spending at the end of the week and adjust",
    ),
    "make a simple vegetable soup": (
        "chop an onion, two carrots and a stick of celery",
        "soften them in a little oil over low heat",
        "add diced potatoes and enough stock to cover",
        "simmer for twenty minutes until everything is tender",
        "season with salt and pepper and blend it if you want it smooth",
    ),
    "back up your photos": (
        "gather the photos from your phone and camera into one folder",
        "copy the folder to an external drive",
        "keep a second copy somewhere else, such as a cloud account",
        "label the backup with the date",
        "repeat the process once a month",
    ),
    "start a compost heap": (
        "pick a shady corner with good drainage",
        "lay down a base of twigs to let air in",
        "add alternating layers of green scraps and dry leaves",
        "keep it damp, like a wrung-out sponge",
        "turn the heap every couple of weeks",
    ),
    "learn a short poem by heart": (
        "read the whole poem aloud twice",
        "learn it one line at a time",
        "add each new line to the ones you already know",
        "write it out from memory",
        "recite it again the next morning",
    ),
}
PROCEDURE_INTROS = (
    "Here is a simple method that works well.",
    "This is easier than it sounds.",
    "It takes less time than you might expect.",
    "A little preparation makes this easy.",
)
PROCEDURE_OUTROS = (
    "With a little practice it becomes second nature.",
    "That is all there is to it.",
    "Keep notes the first time so you can improve next time.",
    "Before long you will not need these steps at all.",
)


def _prose_howto(rng: random.Random) -> str:
    """Step-by-step instructions with varied framing sentences."""
    task = rng.choice(sorted(PROCEDURES))
    s = PROCEDURES[task]
    return (
        f"{rng.choice(PROCEDURE_INTROS)} To {task}, first {s[0]}. Next, {s[1]}. After that, {s[2]}. "
        f"Then {s[3]}. Finally, {s[4]}. {rng.choice(PROCEDURE_OUTROS)}"
    )


MARKET_GOODS = (
    ("apples", 35, 90),
    ("pears", 40, 95),
    ("lemons", 30, 80),
    ("eggs", 20, 45),
    ("bread rolls", 50, 120),
    ("candles", 150, 400),
    ("postcards", 60, 150),
    ("jars of jam", 250, 600),
    ("bunches of radishes", 90, 200),
)


def _prose_market(rng: random.Random) -> str:
    """A shopping trip whose totals and change are computed in cents."""
    name, pronoun = rng.choice(PEOPLE)
    (item_a, lo_a, hi_a), (item_b, lo_b, hi_b) = rng.sample(MARKET_GOODS, 2)
    n_a, n_b = rng.randint(2, 8), rng.randint(2, 6)
    p_a, p_b = rng.randrange(lo_a, hi_a, 5), rng.randrange(lo_b, hi_b, 5)
    total = n_a * p_a + n_b * p_b
    note = next(v for v in (500, 1000, 2000, 5000, 10000) if v >= total)
    return (
        f"At the {_town_name(rng)} market on {rng.choice(WEEKDAYS)}, {name} bought {n_a} {item_a} at {_money(p_a)} each "
        f"and {n_b} {item_b} at {_money(p_b)} each. That came to {_money(n_a * p_a)} for the {item_a} and "
        f"{_money(n_b * p_b)} for the {item_b}, or {_money(total)} altogether. "
        f"{pronoun.capitalize()} paid with a {_money(note)} note and received {_money(note - total)} in change."
    )


def _prose_definition(rng: random.Random) -> str:
    """Two related definitions from the same subject, written as a paragraph."""
    term, definition, subject = rng.choice(DEFINITIONS)
    related = [d for d in DEFINITIONS if d[2] == subject and d[0] != term]
    text = f'In {subject}, the term "{term}" refers to {definition}'
    if related:
        other, other_definition, _ = rng.choice(related)
        text += f' A related idea is "{other}", which means {other_definition}'
    closing = rng.choice(
        (
            "Both ideas come up again and again in later lessons.",
            "Teachers often explain them with a simple drawing.",
            "Knowing them makes many other topics easier to follow.",
        )
    )
    return f"{text} {closing}" if related else text


LETTER_RELATIVES = ("Aunt Rosa", "Uncle Ferris", "Grandma Ida", "Cousin Theo", "Mira", "Grandpa Otto")
LETTER_SEASONS = ("spring", "summer", "autumn", "winter")
LETTER_WEATHER = ("wet and blustery", "warmer than usual", "bright but cold", "calm and golden", "foggy most mornings")
LETTER_DEEDS = (
    "joined the choir at the community hall",
    "finally fixed the squeaky garden gate",
    "started learning to play the fiddle",
    "walked all the way to the lighthouse and back",
    "baked bread for the first time",
    "painted the kitchen a pale yellow",
)
LETTER_FRIEND_NEWS = (
    "won second prize at the pumpkin show",
    "adopted a three-legged cat named Biscuit",
    "opened a tiny bookshop by the station",
    "caught the biggest fish anyone can remember",
)
LETTER_TOWN_NEWS = (
    "The new bridge over the river is almost finished.",
    "The bakery has started selling rye bread again.",
    "We had our first snow of the year on Tuesday.",
    "The library is collecting old maps for an exhibition.",
)


def _prose_letter(rng: random.Random) -> str:
    """A short family letter, to add dialogue-like register to the corpus."""
    (friend, _), (signer, _) = rng.sample(PEOPLE, 2)
    return (
        f"Dear {rng.choice(LETTER_RELATIVES)}, the {rng.choice(LETTER_SEASONS)} here in {_town_name(rng)} has been "
        f"{rng.choice(LETTER_WEATHER)}. Last week I {rng.choice(LETTER_DEEDS)}, and {friend} "
        f"{rng.choice(LETTER_FRIEND_NEWS)}. {rng.choice(LETTER_TOWN_NEWS)} I hope everyone at home is well. "
        f"Write back soon! With love, {signer}."
    )


# (generator, relative weight)
PROSE_GENERATORS: tuple[tuple[Callable[[random.Random], str], int], ...] = (
    (_prose_town, 4),
    (_prose_arithmetic, 3),
    (_prose_number_facts, 2),
    (_prose_weather, 3),
    (_prose_nature, 3),
    (_prose_howto, 1),
    (_prose_market, 2),
    (_prose_definition, 2),
    (_prose_letter, 2),
)


def build_pretrain_text(rng: random.Random, count: int = 400) -> list[Row]:
    """Distinct prose paragraphs drawn from weighted generators."""
    generators = [g for g, _ in PROSE_GENERATORS]
    weights = [w for _, w in PROSE_GENERATORS]
    seen: set[str] = set()
    rows = []
    while len(rows) < count:
        text = rng.choices(generators, weights)[0](rng)
        if text not in seen:
            seen.add(text)
            rows.append({"text": text})
    return rows


# ---------------------------------------------------------------------------
# The learnable skill: two-operand arithmetic with fixed phrasing
# ---------------------------------------------------------------------------


def _arith_row(a: int, op: str, b: int) -> Row:
    """One alpaca row; the phrasing never varies so a tiny model only has to learn the sum."""
    result = a + b if op == "+" else a - b
    return {"instruction": f"What is {a} {op} {b}?", "input": "", "output": str(result)}


def build_arith_splits(rng: random.Random, train_size: int = 4000, test_size: int = 200) -> tuple[list[Row], list[Row]]:
    """Disjoint train/test splits: no (a, op, b) triple appears in both."""
    triples = [(a, op, b) for op in "+-" for a in range(100) for b in range(100)]
    rng.shuffle(triples)
    test = triples[:test_size]
    train = triples[test_size : test_size + train_size]
    return [_arith_row(*t) for t in train], [_arith_row(*t) for t in test]


# ---------------------------------------------------------------------------
# The learnable multiple-choice skill: word categories, as an MMLU question
# ---------------------------------------------------------------------------

# The options always list one word of each category in this order, so the asked category decides the letter:
# a rule a 0.2M-parameter model learns in a few hundred steps, while finding the matching option anywhere
# in the list (an induction task) is beyond it on a CPU budget.
CHOICE_CATEGORIES = {
    "an animal": ("dog", "cat", "horse", "cow", "sheep", "goat", "mouse", "lion", "tiger", "bear", "wolf", "fox",
                  "rabbit", "deer", "duck", "frog"),
    "a fruit": ("apple", "banana", "pear", "plum", "grape", "lemon", "orange", "cherry", "peach", "melon", "mango",
                "lime", "fig", "kiwi", "apricot", "berry"),
    "a color": ("red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white", "gray", "violet",
                "gold", "silver", "navy", "teal", "maroon"),
    "a tool": ("hammer", "saw", "drill", "wrench", "shovel", "rake", "axe", "chisel", "pliers", "spade", "file",
               "ladder", "knife", "needle", "brush", "broom"),
}
CHOICE_SUBJECT = "word categories"
CHOICE_HEADER = f"The following are multiple choice questions (with answers) about {CHOICE_SUBJECT}.\n\n"


def _choice_question(rng: random.Random) -> tuple[str, str, str, str, str, str]:
    """(question, A, B, C, D, answer): one word per category, the asked category's word is the answer."""
    asked = rng.choice(list(CHOICE_CATEGORIES))
    options = [rng.choice(words) for words in CHOICE_CATEGORIES.values()]
    return (f"Which of these is {asked}?", *options, "ABCD"[list(CHOICE_CATEGORIES).index(asked)])


def choice_prompt(question: tuple[str, ...]) -> str:
    """The question as `tunefactory eval` asks it with no shots: MMLU's English header, choices, answer cue."""
    text, *options, _ = question
    return CHOICE_HEADER + text + "".join(f"\n{letter}. {option}" for letter, option in zip("ABCD", options)) \
        + "\nAnswer:"


def build_choice_splits(rng: random.Random, train_size: int = 2000,
                        test_size: int = 200) -> tuple[list[Row], list[tuple[str, ...]]]:
    """Training rows (alpaca: the eval prompt, the answer letter) and held-out questions never in training."""
    test = []
    while len(test) < test_size:
        question = _choice_question(rng)
        if question not in test:
            test.append(question)
    held_out, train = set(test), []
    while len(train) < train_size:
        question = _choice_question(rng)
        if question not in held_out:
            train.append({"instruction": choice_prompt(question), "input": "", "output": question[-1]})
    return train, test


def choice_test_questions() -> list[tuple[str, ...]]:
    """The held-out questions of `choice_train`, for a benchmark folder (`tunefactory_fixtures.benchmarks`)."""
    return build_choice_splits(_rng("choice"))[1]


# ---------------------------------------------------------------------------
# Registry, dataset_info.json and README
# ---------------------------------------------------------------------------

_FROM_VALUE_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
_ROLE_CONTENT_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


@dataclass
class BundledDataset:
    """A generated dataset plus its dataset_info.json entry and README blurb."""

    name: str
    rows: list[Row]
    info: dict[str, Any]
    format_note: str
    summary: str

    @property
    def file_name(self) -> str:
        """Files are named after their dataset so the registry is easy to audit."""
        return f"{self.name}.json"

    def info_entry(self) -> dict[str, Any]:
        """dataset_info.json entry, file_name first as LLaMA-Factory's own registry does."""
        return {"file_name": self.file_name, **self.info}


def _alpaca_ranking_info() -> dict[str, Any]:
    """Registry entry body for alpaca-style ranking files (a fresh dict on every call)."""
    return {
        "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
    }


def _kto_info() -> dict[str, Any]:
    """Registry entry body for role/content KTO files (a fresh dict on every call)."""
    return {
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label"},
        "tags": dict(_ROLE_CONTENT_TAGS),
    }


def _rng(name: str) -> random.Random:
    """Independent stream per dataset, so changing one never reshuffles the others."""
    return random.Random(f"{SEED}:{name}")


def build_all() -> list[BundledDataset]:
    """Generate every bundled dataset in memory, in dataset_info.json order."""
    arith_train, arith_test = build_arith_splits(_rng("arith"))
    style_pref_train, style_pref_test = build_style_pref_splits(_rng("style_pref"))
    style_kto_train, style_kto_test = build_style_kto_splits(_rng("style_kto"))
    choice_train, _ = build_choice_splits(_rng("choice"))
    return [
        BundledDataset(
            "alpaca_demo",
            build_alpaca_demo(_rng("alpaca_demo")),
            {
                "columns": {
                    "prompt": "instruction",
                    "query": "input",
                    "response": "output",
                    "system": "system",
                    "history": "history",
                }
            },
            "alpaca: `instruction`, `input`, `output`, `system`, `history`",
            "Varied single-answer tasks (unit conversions, word reversal and length, sorting, definitions, "
            "plural rewriting, vowel counts, capitals, word problems, tips ...). About a quarter of rows carry a "
            "`system` prompt and about a tenth a `history` of earlier `[question, answer]` turns; the others "
            'hold `""` and `[]` so every row has the same keys.',
        ),
        BundledDataset(
            "sharegpt_tools",
            build_sharegpt_tools(_rng("sharegpt_tools")),
            {
                "formatting": "sharegpt",
                "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
                "tags": dict(_FROM_VALUE_TAGS),
            },
            "sharegpt: `conversations` (`from`/`value`), `system`, `tools`",
            "Tool-use chats. `tools` is a JSON string holding a list of JSON-schema function specs "
            '(calculator, get_weather, unit_convert, lookup_capital, days_between), or `""` for plain chats. '
            '`function_call` values are JSON `{"name", "arguments"}` objects, or a list of them for parallel '
            "calls; `observation` values are JSON results (a list, in call order, for parallel calls). Includes "
            "single calls, parallel calls, two-step call-result-call-result-answer chains, follow-up turns, and "
            "chats where tools are offered but not needed. Weather is fake but stable per city.",
        ),
        BundledDataset(
            "openai_messages",
            build_openai_messages(_rng("openai_messages")),
            {
                "formatting": "sharegpt",
                "columns": {"messages": "messages"},
                "tags": {**_ROLE_CONTENT_TAGS, "system_tag": "system"},
            },
            "sharegpt (OpenAI style): `messages` (`role`/`content`)",
            "Multi-turn chats of 2-4 exchanges, most opening with a `system` message.",
        ),
        BundledDataset(
            "preference_pairs",
            build_preference_pairs(_rng("preference_pairs")),
            {
                "ranking": True,
                "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
            },
            "alpaca ranking: `instruction`, `input`, `chosen`, `rejected`",
            "`chosen` is the correct answer; `rejected` is a plausible slip (off-by-one count, wrong arithmetic, "
            "near-miss reversal or sort, swapped synonym/antonym, inverted conversion, truncated answer).",
        ),
        BundledDataset(
            "preference_sharegpt",
            build_preference_sharegpt(_rng("preference_sharegpt")),
            {
                "formatting": "sharegpt",
                "ranking": True,
                "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
            },
            "sharegpt ranking: `conversations`, `chosen`, `rejected`",
            "Same idea in sharegpt form: the prompt conversation has an odd number of turns and ends on `human`; "
            "`chosen`/`rejected` are single `gpt` messages.",
        ),
        BundledDataset(
            "kto_demo",
            build_kto(_rng("kto_demo")),
            {
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "kto_tag": "label"},
                "tags": dict(_ROLE_CONTENT_TAGS),
            },
            "sharegpt KTO: `messages` (`role`/`content`), `label`",
            "Exactly half the rows end with a correct assistant answer (`label: true`), half with a wrong one "
            "(`label: false`); about a fifth have an earlier exchange as context.",
        ),
        BundledDataset(
            "pretrain_text",
            build_pretrain_text(_rng("pretrain_text")),
            {"columns": {"prompt": "text"}},
            "pre-training: `text`",
            "Distinct English paragraphs: invented towns, weather reports, arithmetic written out in words, "
            "number facts, nature vignettes, how-to steps, market receipts, definitions and letters. Also the "
            "corpus for training tiny BPE tokenizers in tests.",
        ),
        BundledDataset(
            "arith_train",
            arith_train,
            {},
            'alpaca: `instruction`, `input` (always `""`), `output`',
            "The learnable skill: `What is A + B?` / `What is A - B?` with A, B in 0..99 and the exact integer "
            "(possibly negative) as output. Phrasing never varies, so a ~1-5M parameter model can learn it on CPU.",
        ),
        BundledDataset(
            "arith_test",
            arith_test,
            {},
            'alpaca: `instruction`, `input` (always `""`), `output`',
            "Held-out split of the same task: no `(A, op, B)` triple also appears in `arith_train`.",
        ),
        BundledDataset(
            "style_pref_train",
            style_pref_train,
            _alpaca_ranking_info(),
            "alpaca ranking: `instruction`, `input`, `chosen`, `rejected`",
            "Learnable preference data for the reward-model, DPO and PPO learning checks. Prompts come from the "
            "same task generators as `alpaca_demo`. `chosen` and `rejected` both hold the same correct answer, "
            "followed by one space and a closing sentence: `chosen` ends with a polite closing ("
            + _closings_md(POLITE_CLOSINGS)
            + "), `rejected` with a rude one ("
            + _closings_md(RUDE_CLOSINGS)
            + "). The closing's tone is the only signal. It is a deliberate surface feature: a 1-10M parameter "
            "model trained from random initialisation learns it in a few hundred steps, and it transfers to "
            "prompts the model never saw, so reward accuracy, DPO margins or PPO rewards measured on "
            "`style_pref_test` show whether the training stage learns at all. (`preference_pairs`, whose signal "
            "is correctness, is far too hard for such models.)",
        ),
        BundledDataset(
            "style_pref_test",
            style_pref_test,
            _alpaca_ranking_info(),
            "alpaca ranking: `instruction`, `input`, `chosen`, `rejected`",
            "Held-out split of `style_pref_train`: same closings, but no prompt (`instruction` + `input`) also "
            "appears in `style_pref_train`.",
        ),
        BundledDataset(
            "style_kto_train",
            style_kto_train,
            _kto_info(),
            "sharegpt KTO: `messages` (`role`/`content`), `label`",
            "The same signal in KTO form, for the KTO learning check: one user turn and one assistant turn holding "
            "the correct answer plus a closing. `label: true` rows end with a polite closing, `label: false` rows "
            "with a rude one, from the same lists as `style_pref_train`. Exactly half are true; labels are "
            "interleaved (every consecutive pair of rows holds one of each).",
        ),
        BundledDataset(
            "style_kto_test",
            style_kto_test,
            _kto_info(),
            "sharegpt KTO: `messages` (`role`/`content`), `label`",
            "Held-out split of `style_kto_train`, balanced and interleaved the same way; no user prompt also "
            "appears in `style_kto_train`.",
        ),
        BundledDataset(
            "choice_train",
            choice_train,
            {},
            'alpaca: `instruction`, `input` (always `""`), `output` (a letter)',
            "The learnable multiple-choice skill, for `tunefactory eval`: each `instruction` is a question written "
            "exactly as `eval` asks it with `n_shot: 0` (MMLU's English header for the subject *word categories*, "
            "`Which of these is a tool?`, four options, `Answer:`) and `output` is the right letter. The options "
            "always name an animal, a fruit, a color and a tool, in that order, so the asked category decides the "
            "letter: a tiny model learns it in a few hundred steps and answers held-out questions. The held-out "
            "questions (never in this file) come from `tunefactory_fixtures.bundled_data.choice_test_questions`; "
            "`tunefactory_fixtures.benchmarks.write_choice_benchmark` writes them as an MMLU-layout folder.",
        ),
        BundledDataset(
            "mllm_demo",
            mllm_demo_rows(),
            {
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "images": "images"},
                "tags": dict(_ROLE_CONTENT_TAGS),
            },
            f"sharegpt multimodal: `messages` (`role`/`content`) with `<image>` placeholders, `images` "
            f"(paths in `{MEDIA_FOLDER}/`)",
            "LLaMA-Factory's `mllm_demo` format, about our own pictures: the PNGs in "
            f"`{MEDIA_FOLDER}/` are flat-coloured circles, squares and triangles on white, 56 to 112 pixels a side "
            "(multiples of 28, so a Qwen2-VL processor keeps every pixel), drawn by "
            "`tunefactory_fixtures.tiny_multimodal`, which also writes the answers from the same table of shapes "
            "(colour, kind, position), so every answer is true of its picture. Each user turn holds one `<image>` "
            "per picture it asks about: one row is multi-turn (the picture comes with the first question only) "
            "and one asks about two pictures at once.",
        ),
        BundledDataset(
            "mllm_audio_demo",
            mllm_audio_demo_rows(),
            {
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "audios": "audios"},
                "tags": dict(_ROLE_CONTENT_TAGS),
            },
            f"sharegpt multimodal: `messages` (`role`/`content`) with `<audio>` placeholders, `audios` "
            f"(paths in `{MEDIA_FOLDER}/`)",
            "LLaMA-Factory's `mllm_audio_demo` format, about our own sounds: the clips in "
            f"`{MEDIA_FOLDER}/` (`1.wav` to `3.wav`, and `4.flac`, {SAMPLING_RATE // 1000} kHz mono, up to 1.2 s) "
            "are a high and a low tone, two beeps and a rising sweep, synthesised by "
            "`tunefactory_fixtures.tiny_audio`, which also writes the answers from the same table of sounds. Each "
            "user turn holds one `<audio>` per clip it asks about: one row is multi-turn and one compares two clips.",
        ),
    ]


def _closings_md(closings: tuple[str, ...]) -> str:
    """Closings as inline code for the README: '`a`, `b` or `c`'."""
    quoted = [f"`{c}`" for c in closings]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1]


def dataset_info(datasets: list[BundledDataset]) -> dict[str, Any]:
    """The LLaMA-Factory-style registry for the generated files."""
    return {ds.name: ds.info_entry() for ds in datasets}


def readme_text(datasets: list[BundledDataset]) -> str:
    """Markdown overview; row counts come from the data so they never drift."""
    lines = [
        "# Bundled datasets",
        "",
        f"Every file in this folder is generated by `{GENERATOR_COMMAND}` "
        "(source: `src/tunefactory_fixtures/bundled_data.py`). The generator is deterministic: running it again "
        "rewrites byte-identical files. **Do not edit these files by hand**; change the generator and rerun it.",
        "",
        "All content is written or computed by the generator itself from small fact tables and templates; "
        "nothing is copied or downloaded. Answers are computed by the code, so correct answers are correct by "
        "construction and wrong answers (in the preference and KTO sets) are deliberate.",
        "",
        "`dataset_info.json` registers every dataset in LLaMA-Factory's format, so these names can be used "
        "directly as `dataset:` values with `dataset_dir` pointing here.",
        "",
        "| name | file | format | rows |",
        "| --- | --- | --- | ---: |",
    ]
    lines += [f"| `{ds.name}` | `{ds.file_name}` | {ds.format_note} | {len(ds.rows)} |" for ds in datasets]
    lines.append("")
    for ds in datasets:
        lines += [f"## {ds.name}", "", ds.summary, ""]
    lines += [
        "## Regenerating",
        "",
        "```bash",
        f"{GENERATOR_COMMAND}            # writes into data/",
        f"{GENERATOR_COMMAND} /tmp/data  # or into another folder",
        "```",
        "",
    ]
    return "\n".join(lines)


def _write_bytes(path: Path, text: str) -> Path:
    """UTF-8 with '\\n' line endings on every platform, for byte-stable output."""
    path.write_bytes(text.encode("utf-8"))
    return path


def _json_text(payload: Any) -> str:
    """Pretty JSON plus trailing newline; ensure_ascii=False keeps names like Bogotá readable."""
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def write_bundled_data(out_dir: Path) -> list[Path]:
    """Generate every dataset, the pictures of mllm_demo, the sounds of mllm_audio_demo, dataset_info.json and
    README.md into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    datasets = build_all()
    written = [_write_bytes(out_dir / ds.file_name, _json_text(ds.rows)) for ds in datasets]
    written += write_demo_media(out_dir)
    written += write_demo_sounds(out_dir)
    written.append(_write_bytes(out_dir / "dataset_info.json", _json_text(dataset_info(datasets))))
    written.append(_write_bytes(out_dir / "README.md", readme_text(datasets)))
    return written


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: `python -m tunefactory_fixtures.bundled_data [out_dir]`."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(f"usage: {GENERATOR_COMMAND} [out_dir]   (default: {DEFAULT_OUT_DIR})")
        return 0 if args and args[0] in ("-h", "--help") else 2
    out_dir = Path(args[0]) if args else DEFAULT_OUT_DIR
    for path in write_bundled_data(out_dir):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
