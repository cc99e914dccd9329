//! The German of the grammar, table by table.

use super::grammar::{Case, Clause, Determiner, NounPhrase, Predicate, Pronoun, Subject, Tense};
use super::lexicon::{ADJECTIVES, NOUNS, Noun, VERBS, english_number, german_number};

fn noun(en: &str) -> &'static Noun {
    NOUNS.iter().find(|n| n.en == en).unwrap()
}

fn np(det: Determiner, adj: Option<&str>, en: &str, plural: bool) -> NounPhrase {
    NounPhrase {
        noun: noun(en),
        plural,
        det,
        adj: adj.map(|a| ADJECTIVES.iter().find(|x| x.en == a).unwrap()),
    }
}

#[test]
fn numbers_put_units_before_tens() {
    let cases = [
        (2, "two", "zwei"),
        (16, "sixteen", "sechzehn"),
        (17, "seventeen", "siebzehn"),
        (21, "twenty-one", "einundzwanzig"),
        (30, "thirty", "dreißig"),
        (36, "thirty-six", "sechsunddreißig"),
        (67, "sixty-seven", "siebenundsechzig"),
        (70, "seventy", "siebzig"),
        (99, "ninety-nine", "neunundneunzig"),
    ];
    for (n, en, de) in cases {
        assert_eq!(
            (english_number(n).as_str(), german_number(n).as_str()),
            (en, de)
        );
    }
}

#[test]
fn articles_and_adjectives_agree_in_gender_number_and_case() {
    use Case::*;
    use Determiner::*;
    let cases: [(NounPhrase, Case, &str, &str); 12] = [
        (
            np(The, Some("old"), "man", false),
            Nom,
            "the old man",
            "der alte Mann",
        ),
        (
            np(The, Some("old"), "man", false),
            Acc,
            "the old man",
            "den alten Mann",
        ),
        (
            np(The, Some("old"), "woman", false),
            Dat,
            "the old woman",
            "der alten Frau",
        ),
        (
            np(A, Some("young"), "dog", false),
            Nom,
            "a young dog",
            "ein junger Hund",
        ),
        (
            np(A, Some("old"), "dog", false),
            Acc,
            "an old dog",
            "einen alten Hund",
        ),
        (
            np(A, Some("new"), "car", false),
            Acc,
            "a new car",
            "ein neues Auto",
        ),
        (
            np(One, Some("red"), "bag", false),
            Dat,
            "one red bag",
            "einer roten Tasche",
        ),
        (
            np(My, Some("small"), "child", false),
            Dat,
            "my small child",
            "meinem kleinen Kind",
        ),
        (
            np(My, Some("blue"), "car", true),
            Nom,
            "my blue cars",
            "meine blauen Autos",
        ),
        (
            np(Number(2), Some("red"), "car", true),
            Acc,
            "two red cars",
            "zwei rote Autos",
        ),
        (
            np(Number(21), Some("old"), "man", true),
            Dat,
            "twenty-one old men",
            "einundzwanzig alten Männern",
        ),
        (
            np(The, None, "apple", true),
            Dat,
            "the apples",
            "den Äpfeln",
        ),
    ];
    for (phrase, case, en, de) in cases {
        assert_eq!(phrase.english().join(" "), en);
        assert_eq!(phrase.german(case).join(" "), de, "{en} ({case:?})");
    }
}

#[test]
fn verb_second_first_and_last() {
    let see = VERBS.iter().find(|v| v.en == "see").unwrap();
    let clause = Clause {
        subject: Subject::Phrase(np(Determiner::The, None, "dog", false)),
        predicate: Predicate::Action {
            verb: see,
            tense: Tense::Perfect,
            object: np(Determiner::Number(2), Some("red"), "car", true),
            with: None,
        },
    };
    assert_eq!(clause.english().join(" "), "the dog has seen two red cars");
    assert_eq!(
        clause.german().main().join(" "),
        "der Hund hat zwei rote Autos gesehen"
    );
    assert_eq!(
        clause.german().inverted().join(" "),
        "hat der Hund zwei rote Autos gesehen"
    );
    assert_eq!(
        clause.german().subordinate().join(" "),
        "der Hund zwei rote Autos gesehen hat"
    );
    assert_eq!(
        clause.english_question().join(" "),
        "has the dog seen two red cars"
    );

    let we_want = Clause {
        subject: Subject::Pronoun(Pronoun::We),
        predicate: Predicate::Action {
            verb: see,
            tense: Tense::Want,
            object: np(Determiner::The, None, "cat", false),
            with: Some(np(Determiner::A, None, "ball", false)),
        },
    };
    assert_eq!(
        we_want.english().join(" "),
        "we want to see the cat with a ball"
    );
    assert_eq!(
        we_want.german().subordinate().join(" "),
        "wir die Katze mit einem Ball sehen wollen"
    );
}
