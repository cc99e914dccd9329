//! Rendering one meaning in both languages: noun phrases with German case, gender and number
//! agreement, and clauses in German main (verb-second), question (verb-first) and
//! subordinate (verb-final) order.

use super::lexicon::{Adjective, Gender, Noun, Verb, english_number, german_number};

/// German case of a noun phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Case {
    Nom,
    Acc,
    Dat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Determiner {
    The,
    /// "a"/"an": German ein.
    A,
    /// "one": also German ein.
    One,
    My,
    /// 2..=99, plural, no article.
    Number(u32),
}

pub(super) struct NounPhrase {
    pub noun: &'static Noun,
    pub plural: bool,
    pub det: Determiner,
    pub adj: Option<&'static Adjective>,
}

/// How a German adjective declines after its determiner.
#[derive(Clone, Copy)]
enum Declension {
    /// After der/die/das and plural meine: -e/-en.
    Weak,
    /// After ein/mein (singular): the ending shows gender where the article does not.
    Mixed,
    /// No article (numbers): the adjective carries the case ending.
    Strong,
}

fn adjective_ending(decl: Declension, gender: Gender, plural: bool, case: Case) -> &'static str {
    use Case::*;
    use Gender::*;
    match (decl, plural, case, gender) {
        (Declension::Strong, _, Dat, _) => "en",
        (Declension::Strong, _, _, _) => "e",
        (_, true, _, _) | (_, false, Dat, _) => "en",
        (Declension::Weak, false, Nom, _) => "e",
        (Declension::Weak, false, Acc, Masc) => "en",
        (Declension::Weak, false, Acc, _) => "e",
        (Declension::Mixed, false, Nom, Masc) => "er",
        (Declension::Mixed, false, Acc, Masc) => "en",
        (Declension::Mixed, false, _, Fem) => "e",
        (Declension::Mixed, false, _, Neut) => "es",
    }
}

/// der/die/das in all cases and numbers.
fn definite_article(gender: Gender, plural: bool, case: Case) -> &'static str {
    match (plural, case, gender) {
        (true, Case::Dat, _) => "den",
        (true, _, _) => "die",
        (false, Case::Nom, Gender::Masc) => "der",
        (false, Case::Acc, Gender::Masc) => "den",
        (false, Case::Dat, Gender::Fem) => "der",
        (false, Case::Dat, _) => "dem",
        (false, _, Gender::Fem) => "die",
        (false, _, Gender::Neut) => "das",
    }
}

/// The ending of ein/mein (singular) and of plural meine: ein, eine, einen, einem, einer.
fn ein_ending(gender: Gender, plural: bool, case: Case) -> &'static str {
    match (plural, case, gender) {
        (true, Case::Dat, _) => "en",
        (true, _, _) => "e",
        (false, Case::Dat, Gender::Fem) => "er",
        (false, Case::Dat, _) => "em",
        (false, Case::Acc, Gender::Masc) => "en",
        (false, _, Gender::Fem) => "e",
        (false, _, _) => "",
    }
}

impl NounPhrase {
    pub fn english(&self) -> Vec<String> {
        let noun = if self.plural {
            self.noun.en_pl
        } else {
            self.noun.en
        };
        let next = self.adj.map_or(noun, |a| a.en);
        let det = match self.det {
            Determiner::The => "the".to_string(),
            Determiner::A if next.starts_with(['a', 'e', 'i', 'o', 'u']) => "an".to_string(),
            Determiner::A => "a".to_string(),
            Determiner::One => "one".to_string(),
            Determiner::My => "my".to_string(),
            Determiner::Number(n) => english_number(n),
        };
        let mut words = vec![det];
        words.extend(self.adj.map(|a| a.en.to_string()));
        words.push(noun.to_string());
        words
    }

    pub fn german(&self, case: Case) -> Vec<String> {
        let (gender, plural) = (self.noun.gender, self.plural);
        let (det, decl) = match self.det {
            Determiner::The => (
                definite_article(gender, plural, case).to_string(),
                Declension::Weak,
            ),
            Determiner::A | Determiner::One => (
                format!("ein{}", ein_ending(gender, false, case)),
                Declension::Mixed,
            ),
            Determiner::My => (
                format!("mein{}", ein_ending(gender, plural, case)),
                if plural {
                    Declension::Weak
                } else {
                    Declension::Mixed
                },
            ),
            Determiner::Number(n) => (german_number(n), Declension::Strong),
        };
        let noun = match (plural, case) {
            (false, _) => self.noun.de,
            (true, Case::Dat) => self.noun.de_dat_pl,
            (true, _) => self.noun.de_pl,
        };
        let mut words = vec![det];
        words.extend(
            self.adj
                .map(|a| format!("{}{}", a.de, adjective_ending(decl, gender, plural, case))),
        );
        words.push(noun.to_string());
        words
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pronoun {
    I,
    He,
    She,
    We,
    They,
}

/// Person and number, as far as verb endings tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Agreement {
    FirstSingular,
    ThirdSingular,
    Plural,
}

pub(super) enum Subject {
    Pronoun(Pronoun),
    Phrase(NounPhrase),
}

impl Pronoun {
    /// (English, German, agreement).
    fn forms(self) -> (&'static str, &'static str, Agreement) {
        match self {
            Pronoun::I => ("I", "ich", Agreement::FirstSingular),
            Pronoun::He => ("he", "er", Agreement::ThirdSingular),
            Pronoun::She => ("she", "sie", Agreement::ThirdSingular),
            Pronoun::We => ("we", "wir", Agreement::Plural),
            Pronoun::They => ("they", "sie", Agreement::Plural),
        }
    }
}

impl Subject {
    pub fn agreement(&self) -> Agreement {
        match self {
            Subject::Pronoun(p) => p.forms().2,
            Subject::Phrase(np) if np.plural => Agreement::Plural,
            Subject::Phrase(_) => Agreement::ThirdSingular,
        }
    }

    pub fn english(&self) -> Vec<String> {
        match self {
            Subject::Pronoun(p) => vec![p.forms().0.to_string()],
            Subject::Phrase(np) => np.english(),
        }
    }

    pub fn german(&self) -> Vec<String> {
        match self {
            Subject::Pronoun(p) => vec![p.forms().1.to_string()],
            Subject::Phrase(np) => np.german(Case::Nom),
        }
    }
}

/// English "past" is the simple past ("bought"), which German says with the perfect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tense {
    Present,
    Perfect,
    Past,
    Can,
    Want,
}

pub(super) enum Predicate {
    /// Subject, verb, object, and optionally "with" + a noun phrase (German dative).
    Action {
        verb: &'static Verb,
        tense: Tense,
        object: NounPhrase,
        with: Option<NounPhrase>,
    },
    /// "is happy": German predicative adjectives do not decline.
    Copula(&'static Adjective),
}

pub(super) struct Clause {
    pub subject: Subject,
    pub predicate: Predicate,
}

/// A German clause cut into the parts that word order moves around.
pub(super) struct GermanClause {
    pub subject: Vec<String>,
    pub finite: String,
    /// Objects, "mit" phrase, predicative adjective.
    pub middle: Vec<String>,
    /// Participle or infinitive, at the end of the clause.
    pub last: Option<String>,
}

impl GermanClause {
    /// Verb second: "der Hund hat den Ball gefunden".
    pub fn main(self) -> Vec<String> {
        let mut w = self.subject;
        w.push(self.finite);
        w.extend(self.middle);
        w.extend(self.last);
        w
    }

    /// Verb first, after a fronted adverb or clause, and in questions:
    /// "(heute) hat der Hund den Ball gefunden".
    pub fn inverted(self) -> Vec<String> {
        let mut w = vec![self.finite];
        w.extend(self.subject);
        w.extend(self.middle);
        w.extend(self.last);
        w
    }

    /// Verb last, after weil/dass/wenn: "der Hund den Ball gefunden hat".
    pub fn subordinate(self) -> Vec<String> {
        let mut w = self.subject;
        w.extend(self.middle);
        w.extend(self.last);
        w.push(self.finite);
        w
    }
}

fn pick3(agr: Agreement, forms: [&str; 3]) -> String {
    match agr {
        Agreement::FirstSingular => forms[0],
        Agreement::ThirdSingular => forms[1],
        Agreement::Plural => forms[2],
    }
    .to_string()
}

fn split_words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(' ').map(str::to_string)
}

impl Clause {
    /// English statement: "the dog has found the ball".
    pub fn english(&self) -> Vec<String> {
        let agr = self.subject.agreement();
        let mut w = self.subject.english();
        match &self.predicate {
            Predicate::Copula(adj) => {
                w.push(pick3(agr, ["am", "is", "are"]));
                w.push(adj.en.to_string());
            }
            Predicate::Action { verb, tense, .. } => {
                let third = agr == Agreement::ThirdSingular;
                let verb_words = match tense {
                    Tense::Present if third => verb.en_3sg.to_string(),
                    Tense::Present => verb.en.to_string(),
                    Tense::Past => verb.en_past.to_string(),
                    Tense::Perfect if third => format!("has {}", verb.en_participle),
                    Tense::Perfect => format!("have {}", verb.en_participle),
                    Tense::Can => format!("can {}", verb.en),
                    Tense::Want if third => format!("wants to {}", verb.en),
                    Tense::Want => format!("want to {}", verb.en),
                };
                w.extend(split_words(&verb_words));
                w.extend(self.english_complements());
            }
        }
        w
    }

    /// English yes/no question without the "?": "has the dog found the ball".
    pub fn english_question(&self) -> Vec<String> {
        let agr = self.subject.agreement();
        let third = agr == Agreement::ThirdSingular;
        let subject = self.subject.english();
        let (first, rest): (String, String) = match &self.predicate {
            Predicate::Copula(adj) => (pick3(agr, ["am", "is", "are"]), adj.en.to_string()),
            Predicate::Action { verb, tense, .. } => match tense {
                Tense::Present | Tense::Past => {
                    let aux = if third { "does" } else { "do" };
                    let aux = if *tense == Tense::Past { "did" } else { aux };
                    (aux.to_string(), verb.en.to_string())
                }
                Tense::Perfect => (
                    if third { "has" } else { "have" }.to_string(),
                    verb.en_participle.to_string(),
                ),
                Tense::Can => ("can".to_string(), verb.en.to_string()),
                Tense::Want => (
                    if third { "does" } else { "do" }.to_string(),
                    format!("want to {}", verb.en),
                ),
            },
        };
        let mut w = vec![first];
        w.extend(subject);
        w.extend(split_words(&rest));
        w.extend(self.english_complements());
        w
    }

    fn english_complements(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Predicate::Action { object, with, .. } = &self.predicate {
            w.extend(object.english());
            if let Some(with) = with {
                w.push("with".to_string());
                w.extend(with.english());
            }
        }
        w
    }

    pub fn german(&self) -> GermanClause {
        let agr = self.subject.agreement();
        let subject = self.subject.german();
        match &self.predicate {
            Predicate::Copula(adj) => GermanClause {
                subject,
                finite: pick3(agr, ["bin", "ist", "sind"]),
                middle: vec![adj.de.to_string()],
                last: None,
            },
            Predicate::Action {
                verb,
                tense,
                object,
                with,
            } => {
                let mut middle = object.german(Case::Acc);
                if let Some(with) = with {
                    middle.push("mit".to_string());
                    middle.extend(with.german(Case::Dat));
                }
                let (finite, last) = match tense {
                    Tense::Present => (pick3(agr, [verb.de_1sg, verb.de_3sg, verb.de]), None),
                    Tense::Perfect | Tense::Past => (
                        pick3(agr, ["habe", "hat", "haben"]),
                        Some(verb.de_participle.to_string()),
                    ),
                    Tense::Can => (
                        pick3(agr, ["kann", "kann", "können"]),
                        Some(verb.de.to_string()),
                    ),
                    Tense::Want => (
                        pick3(agr, ["will", "will", "wollen"]),
                        Some(verb.de.to_string()),
                    ),
                };
                GermanClause {
                    subject,
                    finite,
                    middle,
                    last,
                }
            }
        }
    }
}
