//! The words of the quick-start grammar: English with the German it translates to, and the
//! grammatical facts German needs (gender, plural and dative plural forms, verb forms).

/// Grammatical gender of a German noun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gender {
    Masc,
    Fem,
    Neut,
}

/// What a noun denotes, so that sentences make sense (a dog can see, a lamp cannot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Person,
    Animal,
    Thing,
}

pub(super) struct Noun {
    pub en: &'static str,
    pub en_pl: &'static str,
    pub de: &'static str,
    pub de_pl: &'static str,
    /// Dative plural: adds -n unless the plural already ends in -n or -s.
    pub de_dat_pl: &'static str,
    pub gender: Gender,
    pub kind: Kind,
}

const fn noun(
    en: &'static str,
    en_pl: &'static str,
    de: &'static str,
    de_pl: &'static str,
    de_dat_pl: &'static str,
    gender: Gender,
    kind: Kind,
) -> Noun {
    Noun {
        en,
        en_pl,
        de,
        de_pl,
        de_dat_pl,
        gender,
        kind,
    }
}

use Gender::{Fem, Masc, Neut};
use Kind::{Animal, Person, Thing};

#[rustfmt::skip]
pub(super) const NOUNS: &[Noun] = &[
    noun("man", "men", "Mann", "Männer", "Männern", Masc, Person),
    noun("woman", "women", "Frau", "Frauen", "Frauen", Fem, Person),
    noun("child", "children", "Kind", "Kinder", "Kindern", Neut, Person),
    noun("girl", "girls", "Mädchen", "Mädchen", "Mädchen", Neut, Person),
    noun("dog", "dogs", "Hund", "Hunde", "Hunden", Masc, Animal),
    noun("cat", "cats", "Katze", "Katzen", "Katzen", Fem, Animal),
    noun("horse", "horses", "Pferd", "Pferde", "Pferden", Neut, Animal),
    noun("bird", "birds", "Vogel", "Vögel", "Vögeln", Masc, Animal),
    noun("mouse", "mice", "Maus", "Mäuse", "Mäusen", Fem, Animal),
    noun("car", "cars", "Auto", "Autos", "Autos", Neut, Thing),
    noun("ball", "balls", "Ball", "Bälle", "Bällen", Masc, Thing),
    noun("book", "books", "Buch", "Bücher", "Büchern", Neut, Thing),
    noun("house", "houses", "Haus", "Häuser", "Häusern", Neut, Thing),
    noun("table", "tables", "Tisch", "Tische", "Tischen", Masc, Thing),
    noun("chair", "chairs", "Stuhl", "Stühle", "Stühlen", Masc, Thing),
    noun("flower", "flowers", "Blume", "Blumen", "Blumen", Fem, Thing),
    noun("bag", "bags", "Tasche", "Taschen", "Taschen", Fem, Thing),
    noun("lamp", "lamps", "Lampe", "Lampen", "Lampen", Fem, Thing),
    noun("bottle", "bottles", "Flasche", "Flaschen", "Flaschen", Fem, Thing),
    noun("picture", "pictures", "Bild", "Bilder", "Bildern", Neut, Thing),
    noun("boat", "boats", "Boot", "Boote", "Booten", Neut, Thing),
    noun("apple", "apples", "Apfel", "Äpfel", "Äpfeln", Masc, Thing),
    noun("key", "keys", "Schlüssel", "Schlüssel", "Schlüsseln", Masc, Thing),
    noun("window", "windows", "Fenster", "Fenster", "Fenstern", Neut, Thing),
];

pub(super) struct Adjective {
    pub en: &'static str,
    /// The stem, which is also the predicative form ("der Hund ist alt").
    pub de: &'static str,
    /// What it can describe.
    pub kinds: &'static [Kind],
}

const LIVING: &[Kind] = &[Person, Animal];
const ANY: &[Kind] = &[Person, Animal, Thing];

#[rustfmt::skip]
pub(super) const ADJECTIVES: &[Adjective] = &[
    Adjective { en: "red", de: "rot", kinds: &[Thing] },
    Adjective { en: "blue", de: "blau", kinds: &[Thing] },
    Adjective { en: "green", de: "grün", kinds: &[Thing] },
    Adjective { en: "black", de: "schwarz", kinds: &[Animal, Thing] },
    Adjective { en: "white", de: "weiß", kinds: &[Animal, Thing] },
    Adjective { en: "new", de: "neu", kinds: &[Thing] },
    Adjective { en: "big", de: "groß", kinds: ANY },
    Adjective { en: "small", de: "klein", kinds: ANY },
    Adjective { en: "old", de: "alt", kinds: ANY },
    Adjective { en: "beautiful", de: "schön", kinds: ANY },
    Adjective { en: "young", de: "jung", kinds: LIVING },
    Adjective { en: "happy", de: "glücklich", kinds: LIVING },
    Adjective { en: "hungry", de: "hungrig", kinds: LIVING },
];

/// Which nouns a verb takes as its object.
pub(super) enum Objects {
    Any,
    NotPersons,
    Things,
    /// Exactly these (English singular).
    Only(&'static [&'static str]),
}

pub(super) struct Verb {
    pub en: &'static str,
    pub en_3sg: &'static str,
    pub en_past: &'static str,
    pub en_participle: &'static str,
    /// Infinitive, which is also the 1st and 3rd person plural.
    pub de: &'static str,
    pub de_1sg: &'static str,
    pub de_3sg: &'static str,
    pub de_participle: &'static str,
    /// Kinds of noun that can be the subject (pronoun subjects are persons).
    pub subjects: &'static [Kind],
    pub objects: Objects,
    /// Sensible after "can" / "want to".
    pub modal: bool,
}

/// A verb: English base, 3rd singular, past, participle; German infinitive (= plural), 1st
/// singular, 3rd singular, participle; subjects; objects; modal.
const fn verb(
    en: [&'static str; 4],
    de: [&'static str; 4],
    subjects: &'static [Kind],
    objects: Objects,
    modal: bool,
) -> Verb {
    Verb {
        en: en[0],
        en_3sg: en[1],
        en_past: en[2],
        en_participle: en[3],
        de: de[0],
        de_1sg: de[1],
        de_3sg: de[2],
        de_participle: de[3],
        subjects,
        objects,
        modal,
    }
}

const CARRIED: &[&str] = &[
    "child", "dog", "cat", "bird", "mouse", "ball", "book", "table", "chair", "flower", "bag",
    "lamp", "bottle", "picture", "apple", "key",
];
const WASHED: &[&str] = &[
    "child", "dog", "cat", "horse", "car", "ball", "table", "chair", "bottle", "apple", "window",
    "boat",
];

#[rustfmt::skip]
pub(super) const VERBS: &[Verb] = &[
    verb(["see", "sees", "saw", "seen"], ["sehen", "sehe", "sieht", "gesehen"], LIVING, Objects::Any, true),
    verb(["find", "finds", "found", "found"], ["finden", "finde", "findet", "gefunden"], LIVING, Objects::Any, true),
    verb(["look for", "looks for", "looked for", "looked for"], ["suchen", "suche", "sucht", "gesucht"], LIVING, Objects::Any, false),
    verb(["like", "likes", "liked", "liked"], ["mögen", "mag", "mag", "gemocht"], LIVING, Objects::Any, false),
    verb(["buy", "buys", "bought", "bought"], ["kaufen", "kaufe", "kauft", "gekauft"], &[Person], Objects::NotPersons, true),
    verb(["carry", "carries", "carried", "carried"], ["tragen", "trage", "trägt", "getragen"], &[Person], Objects::Only(CARRIED), true),
    verb(["paint", "paints", "painted", "painted"], ["malen", "male", "malt", "gemalt"], &[Person], Objects::Any, true),
    verb(["wash", "washes", "washed", "washed"], ["waschen", "wasche", "wäscht", "gewaschen"], &[Person], Objects::Only(WASHED), true),
    verb(["need", "needs", "needed", "needed"], ["brauchen", "brauche", "braucht", "gebraucht"], LIVING, Objects::Things, false),
];

/// A verb that introduces a "that" clause: (English, English 3sg, German 1sg, German 3sg,
/// German plural).
pub(super) const REPORTING_VERBS: &[[&str; 5]] = &[
    ["know", "knows", "weiß", "weiß", "wissen"],
    ["think", "thinks", "glaube", "glaubt", "glauben"],
    ["say", "says", "sage", "sagt", "sagen"],
];

#[rustfmt::skip]
const EN_UNITS: [&str; 20] = [
    "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
];
#[rustfmt::skip]
const EN_TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
#[rustfmt::skip]
const DE_UNITS: [&str; 20] = [
    "", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
    "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn", "neunzehn",
];
#[rustfmt::skip]
const DE_TENS: [&str; 10] = [
    "", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig", "achtzig",
    "neunzig",
];

/// 1..=99 in English words: "seven", "forty", "twenty-one".
pub(super) fn english_number(n: u32) -> String {
    match n {
        1..=19 => EN_UNITS[n as usize].to_string(),
        20..=99 if n.is_multiple_of(10) => EN_TENS[n as usize / 10].to_string(),
        20..=99 => format!("{}-{}", EN_TENS[n as usize / 10], EN_UNITS[n as usize % 10]),
        _ => n.to_string(),
    }
}

/// 1..=99 in German words, units before tens: "sieben", "vierzig", "einundzwanzig".
pub(super) fn german_number(n: u32) -> String {
    match n {
        1..=19 => DE_UNITS[n as usize].to_string(),
        20..=99 if n.is_multiple_of(10) => DE_TENS[n as usize / 10].to_string(),
        20..=99 => {
            // "eins" loses its s in compounds: einundzwanzig.
            let unit = if n % 10 == 1 {
                "ein"
            } else {
                DE_UNITS[n as usize % 10]
            };
            format!("{unit}und{}", DE_TENS[n as usize / 10])
        }
        _ => n.to_string(),
    }
}
