#!/usr/bin/python3
"""Builds the energy-equipment knowledge graph (K-BERT .spo) from four sources.

  ISO 14224     equipment classes x failure modes, failure modes with their
                meanings, failure mechanisms with their synonyms and classes,
                reliability terms with their abbreviations
                (../shared/data/iso14224, MIT)
  IEC CIM       CGMES 3.0 equipment profile: classes, rdfs:subClassOf, the
                first clause of each definition (../shared/data/cgmes, Apache-2.0)
  MaintIE       gold triples of 1,076 maintenance work orders: hasPart, isA,
                hasPatient, hasAgent, contains, hasProperty, and each entity's
                type (../shared/data/maintie, MIT)
  WordNet 3.0   hypernyms and part meronyms of the nouns of the PHMSA training
                narratives that WordNet files as artifacts, natural objects,
                phenomena or substances (Debian's wordnet-base; WordNet licence)

Surface forms are English and lower-cased; relations read as words ("has
failure mode", "is a"). Objects longer than MAX_OBJECT_WORDS words are left
out: K-BERT injects the whole object into the sentence. A subject's triples
keep the source order above (domain sources first), because K-BERT injects
only the first max_entities triples of an entity.

Usage (from the repository, Debian's interpreter):
  /usr/bin/python3 examples/fault_reports/build_kg.py [--shared ../shared/data]
      [--wordnet /usr/share/wordnet] [--out data/fault_reports/energy.spo]
"""
import argparse
import collections
import csv
import json
import os
import re
import sys

MAX_OBJECT_WORDS = 8

# ISO 14224 equipment class codes -> the words reports use for them.
EQUIPMENT_SURFACES = {
    "EM": ["electric motor", "motor"], "PU": ["pump"], "AG": ["agitator"], "CR": ["crane"],
    "HE": ["heat exchanger"], "HB": ["heater", "boiler"], "PI": ["piping", "pipe"],
    "VE": ["pressure vessel"], "TA": ["storage tank", "tank"], "SS": ["stairs", "handrail"],
    "EI": ["interlock"], "FGB": ["gas detector", "gas detection"], "IP": ["input device"],
    "CL": ["control logic unit"], "VA": ["valve"], "NO": ["nozzle"],
    "IC": ["instrumentation", "instrument"],
}
WORDNET_LEXFILES = {"06": "artifact", "11": "event", "17": "object", "19": "phenomenon", "27": "substance"}
# Words that mark a WordNet sense as belonging to gas and power equipment and their hazards.
DOMAIN_WORDS = set("""gas fluid flow pipe pipes pipeline conduit water pressure valve electric electrical
electricity current power fuel oil machine machinery device mechanical control regulating earth soil
ground dig digs digging trench excavation construction vehicle motor engine fire heat burning combustion weather
storm ice snow rain wind metal steel iron plastic weld joint corrosion rust leak tube meter measuring
house building""".split())
# ISO 14224 failure-mechanism synonyms too common in reports to signal the mechanism.
GENERIC_SYNONYMS = {"out", "low", "failed", "off", "on", "high", "slow", "fail", "short", "warm", "damaged",
                    "damage", "hole", "broken"}
# CGMES classes named by a common word that reports use in another sense ("ground" is soil,
# "cut" is a cut in a pipe, not the CIM line cut).
CIM_COMMON_WORDS = {"cut", "ground", "curve", "season", "day type", "currency", "bay", "junction",
                    "terminal", "clamp", "jumper", "line", "equipment", "unit multiplier", "unit symbol"}
ORDINALS = set("first second third fourth fifth sixth seventh eighth ninth tenth".split())
# Words of the reports WordNet knows in a sense the reports never use (names, abbreviations,
# adjectives): found by reading the generated KG, left out by hand.
WORDNET_SKIP = set("john mike ada eureka mini must left right perpendicular preliminary point center "
                   "bore led pike neighbor memory lodge inn hat butt".split())
# Relations in the order K-BERT should inject them (it keeps an entity's first max_entities).
RELATION_RANK = {"is a sign of": 0, "stands for": 0, "is a": 1, "is": 1, "means": 2, "has failure mode": 3,
                 "has part": 4}
RELATION_WORDS = {"hasPart": "has part", "isA": "is a", "hasParticipant/hasPatient": "has patient",
                  "hasParticipant/hasAgent": "has agent", "contains": "contains",
                  "hasProperty": "has property"}


# --- The cause ontology (the knowledge issue) ------------------------------------------------
# PHMSA's incident form (F 7100.1, 2010 onwards) files each incident under one of 8 causes,
# each with named sub-causes and subtypes: the columns of each cause's part of the form and
# the values those columns may take. The table below names, for each cause, the form's
# columns and values it reads and the words a narrative uses for each value (the value's own
# words and their obvious synonyms). build_kg.py checks every value against the form's
# vocabulary (the distinct values of that column in the form file; never which report had
# which cause) and writes typed facts a reviewer can read, each with its source.
CAUSE_NAMES = {
    "EXCAVATION DAMAGE": "excavation damage",
    "OTHER OUTSIDE FORCE DAMAGE": "other outside force damage",
    "NATURAL FORCE DAMAGE": "natural force damage",
    "PIPE, WELD, OR JOINT FAILURE": "pipe, weld or joint failure",
    "EQUIPMENT FAILURE": "equipment failure",
    "CORROSION FAILURE": "corrosion failure",
    "INCORRECT OPERATION": "incorrect operation",
    "OTHER INCIDENT CAUSE": "other incident cause",
}
CIRCUMSTANCE = "is a circumstance of"
PART = "is a part whose failure is"
MECHANISM = "is a mechanism of"
# (cause, form column, form value or None for a column's indicator, relation, surface forms)
CAUSE_TAXONOMY = [
    # Excavation damage: who dug, with what, and the practices that failed.
    ("EXCAVATION DAMAGE", "EX_PARTY_TYPE", "EXCAVATION DAMAGE BY THIRD PARTY", CIRCUMSTANCE,
     ["excavation", "excavating", "excavator", "excavators", "third party", "third-party", "dig", "digging", "dug"]),
    ("EXCAVATION DAMAGE", "EX_PARTY_TYPE", "EXCAVATION DAMAGE BY OPERATOR'S CONTRACTOR (SECOND PARTY)", CIRCUMSTANCE,
     ["second party"]),
    ("EXCAVATION DAMAGE", "EX_PARTY_TYPE", "PREVIOUS DAMAGE DUE TO EXCAVATION ACTIVITY", CIRCUMSTANCE,
     ["previous damage", "prior damage"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "BACKHOE/TRACKHOE", CIRCUMSTANCE,
     ["backhoe", "trackhoe", "track hoe", "excavator bucket"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "AUGER", CIRCUMSTANCE, ["auger", "augering"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "BORING", CIRCUMSTANCE, ["boring", "boring machine"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "DIRECTIONAL DRILLING", CIRCUMSTANCE,
     ["directional drilling", "directional drill", "directional boring", "horizontal directional drilling"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "DRILLING", CIRCUMSTANCE, ["drilling"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "GRADER/SCRAPER", CIRCUMSTANCE, ["grader", "scraper", "grading"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "TRENCHER", CIRCUMSTANCE, ["trencher", "trenching"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "HAND TOOLS", CIRCUMSTANCE, ["shovel", "hand digging"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "PROBING DEVICE", CIRCUMSTANCE, ["probe bar", "probing"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "MILLING EQUIPMENT", CIRCUMSTANCE, ["milling machine"]),
    ("EXCAVATION DAMAGE", "EXCAVATOR_EQUIPMENT", "EXPLOSIVES", CIRCUMSTANCE, ["blasting"]),
    ("EXCAVATION DAMAGE", "ONE_CALL_SUBTYPE", "NO NOTIFICATION MADE TO THE ONE-CALL CENTER", CIRCUMSTANCE,
     ["one-call", "one call", "one call center", "811", "locate request", "locate ticket"]),
    ("EXCAVATION DAMAGE", "LOCATING_SUBTYPE", "FACILITY MARKING OR LOCATION NOT SUFFICIENT", CIRCUMSTANCE,
     ["mismarked", "marking", "markings", "locate", "locator"]),
    ("EXCAVATION DAMAGE", "LOCATING_SUBTYPE", "FACILITY WAS NOT LOCATED OR MARKED", CIRCUMSTANCE,
     ["not located", "not marked", "unmarked"]),
    ("EXCAVATION DAMAGE", "EXCAVATION_SUBTYPE", "FAILURE TO VERIFY LOCATION BY TEST-HOLD (POT-HOLING)", CIRCUMSTANCE,
     ["pot-holing", "potholing", "pot hole", "test hole"]),
    ("EXCAVATION DAMAGE", "EXCAVATION_SUBTYPE", "IMPROPER BACKFILLING", CIRCUMSTANCE, ["backfill", "backfilling"]),
    # Other outside force damage: vehicles, fire, arcing, vandalism.
    ("OTHER OUTSIDE FORCE DAMAGE", "OUTSIDE_FORCE_TYPE",
     "DAMAGE BY CAR, TRUCK, OR OTHER MOTORIZED VEHICLE/EQUIPMENT NOT ENGAGED IN EXCAVATION", CIRCUMSTANCE,
     ["vehicle", "vehicles", "car", "cars", "truck", "trucks", "driver", "drove", "motorist", "automobile",
      "struck by a vehicle", "ran off the road", "crashed", "collision", "forklift", "snowplow", "snow plow"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "VEHICLE_TYPE", "PASSENGER CAR", CIRCUMSTANCE, ["passenger car", "suv", "van"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "VEHICLE_TYPE", "LARGE TRUCK", CIRCUMSTANCE,
     ["semi", "tractor trailer", "tractor-trailer", "dump truck", "garbage truck"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "VEHICLE_TYPE", "MOTORCYCLE/ATV", CIRCUMSTANCE, ["motorcycle", "atv"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "OUTSIDE_FORCE_TYPE",
     "NEARBY INDUSTRIAL, MAN-MADE, OR OTHER FIRE/EXPLOSION AS PRIMARY CAUSE OF INCIDENT", CIRCUMSTANCE,
     ["structure fire", "house fire", "building fire", "nearby fire", "arson", "wildfire",
      "grass fire", "brush fire"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "OUTSIDE_FORCE_TYPE", "ELECTRICAL ARCING FROM OTHER EQUIPMENT OR FACILITY",
     CIRCUMSTANCE, ["arcing", "electrical arcing", "arc", "power line", "power lines", "electric cable",
                    "electrical fault", "transformer", "energized"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "OUTSIDE_FORCE_TYPE", "INTENTIONAL DAMAGE", CIRCUMSTANCE,
     ["intentional", "intentionally", "vandalism", "vandal", "vandals", "theft", "stolen", "suicide", "tampered",
      "tampering"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "OUTSIDE_FORCE_TYPE", "PREVIOUS MECHANICAL DAMAGE NOT RELATED TO EXCAVATION",
     CIRCUMSTANCE, ["mechanical damage"]),
    ("OTHER OUTSIDE FORCE DAMAGE", "OUTSIDE_FORCE_TYPE",
     "DAMAGE BY BOATS, BARGES, DRILLING RIGS, OR OTHER MARITIME EQUIPMENT OR VESSELS SET ADRIFT OR WHICH HAVE "
     "OTHERWISE LOST THEIR MOORING", CIRCUMSTANCE, ["boat", "barge", "vessel"]),
    # Natural force damage.
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "LIGHTNING", CIRCUMSTANCE,
     ["lightning", "lightning strike", "thunderstorm"]),
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "HEAVY RAINS/FLOODS", CIRCUMSTANCE,
     ["heavy rain", "heavy rains", "rain", "rainfall", "flood", "flooding", "floods", "flooded", "washout",
      "washed out", "storm surge", "hurricane", "tropical storm"]),
    ("NATURAL FORCE DAMAGE", "HEAVY_RAINS_SUBTYPE", "WASHOUTS/SCOURING", CIRCUMSTANCE, ["scouring", "scour"]),
    ("NATURAL FORCE DAMAGE", "HEAVY_RAINS_SUBTYPE", "MUDSLIDE", CIRCUMSTANCE, ["mudslide", "mud slide", "landslide"]),
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "EARTH MOVEMENT, NOT DUE TO HEAVY RAINS/FLOODS", CIRCUMSTANCE,
     ["earth movement", "soil movement", "ground movement", "settlement", "settling", "sinkhole", "ground settling"]),
    ("NATURAL FORCE DAMAGE", "EARTH_SUBTYPE", "EARTHQUAKE", CIRCUMSTANCE, ["earthquake"]),
    ("NATURAL FORCE DAMAGE", "EARTH_SUBTYPE", "SUBSIDENCE", CIRCUMSTANCE, ["subsidence"]),
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "TEMPERATURE", CIRCUMSTANCE,
     ["cold weather", "cold temperatures", "freezing", "frozen", "freeze", "frost"]),
    ("NATURAL FORCE DAMAGE", "TEMPERATURE_SUBTYPE", "FROST HEAVE", CIRCUMSTANCE, ["frost heave", "frost heaving"]),
    ("NATURAL FORCE DAMAGE", "TEMPERATURE_SUBTYPE", "FROZEN COMPONENTS", CIRCUMSTANCE, ["ice", "icing", "iced"]),
    ("NATURAL FORCE DAMAGE", "TEMPERATURE_SUBTYPE", "THERMAL STRESS", CIRCUMSTANCE, ["thermal stress"]),
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "HIGH WINDS", CIRCUMSTANCE,
     ["high winds", "wind", "winds", "tornado", "fallen tree", "tree fell"]),
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "SNOW/ICE IMPACT OR ACCUMULATION", CIRCUMSTANCE,
     ["snow", "snow and ice", "snow load", "ice accumulation", "falling ice"]),
    ("NATURAL FORCE DAMAGE", "NATURAL_FORCE_TYPE", "TREES/VEGETATION ROOTS", CIRCUMSTANCE,
     ["tree root", "tree roots", "roots", "vegetation"]),
    # Pipe, weld or joint failure: the parts whose failure it is, and how they fail.
    ("PIPE, WELD, OR JOINT FAILURE", "PWJF_FAILURE_TYPE", "FUSION JOINT", PART,
     ["fusion joint", "fusion", "heat fusion", "butt fusion", "electrofusion", "electro-fusion", "fused"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PLASTIC_JOINT_SUBTYPE", "SOCKET, HEAT FUSION", PART, ["socket fusion", "socket"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PLASTIC_JOINT_SUBTYPE", "SADDLE, HEAT FUSION", PART, ["saddle fusion", "saddle"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PWJF_FAILURE_TYPE", "MECHANICAL JOINT FAILURE", PART,
     ["mechanical joint", "mechanical fitting", "compression coupling", "compression fitting", "coupling",
      "couplings", "dresser coupling", "pulled out", "pull-out", "pullout"]),
    ("PIPE, WELD, OR JOINT FAILURE", "MEC_FITTING_TYPE", "SERVICE OR MAIN TEE", PART, ["service tee", "main tee"]),
    ("PIPE, WELD, OR JOINT FAILURE", "MEC_FITTING_TYPE", "TAPPING TEE", PART, ["tapping tee", "tap tee"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PWJF_FAILURE_TYPE", "BUTT WELD", PART, ["butt weld", "weld", "welds", "girth weld"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PWJF_FAILURE_TYPE", "FILLET WELD", PART, ["fillet weld"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PWJF_FAILURE_TYPE", "BODY OF PIPE", PART, ["pipe body", "body of the pipe"]),
    ("PIPE, WELD, OR JOINT FAILURE", "PIPE_BODY_SUBTYPE", "CRACK", MECHANISM,
     ["crack", "cracked", "cracks", "cracking", "circumferential crack", "slit", "brittle", "brittle-like"]),
    ("PIPE, WELD, OR JOINT FAILURE", "RESULT_MATERIAL_SUBTYPE", "LONG SEAM", PART, ["seam", "long seam"]),
    ("PIPE, WELD, OR JOINT FAILURE", "RESULT_CONSTRUCTION_SUBTYPE", "POOR WORKMANSHIP", MECHANISM,
     ["workmanship", "poor workmanship", "improperly fused", "lack of fusion", "manufacturing defect",
      "material defect", "defect", "defective"]),
    # Equipment failure: the equipment whose failure it is.
    ("EQUIPMENT FAILURE", "EQ_FAILURE_TYPE", "MALFUNCTION OF CONTROL/RELIEF EQUIPMENT", PART,
     ["regulator", "regulators", "pressure regulator", "relief valve", "control valve", "diaphragm",
      "regulator station", "malfunction", "malfunctioned", "malfunctioning", "instrumentation", "scada"]),
    ("EQUIPMENT FAILURE", "EQ_FAILURE_TYPE", "THREADED CONNECTION FAILURE", PART,
     ["threaded connection", "threaded", "threads", "thread", "nipple", "threaded fitting"]),
    ("EQUIPMENT FAILURE", "EQ_FAILURE_TYPE", "NON-THREADED CONNECTION FAILURE", PART,
     ["o-ring", "gasket", "flange", "packing", "non-threaded"]),
    ("EQUIPMENT FAILURE", "EQ_FAILURE_TYPE", "VALVE", PART, ["valve body", "valve stem", "plug valve"]),
    ("EQUIPMENT FAILURE", "EQ_FAILURE_TYPE", "OTHER EQUIPMENT FAILURE", PART,
     ["equipment failure", "odorizer", "compressor"]),
    # Corrosion failure: its kinds and what prevents it.
    ("CORROSION FAILURE", "CAUSE_DETAILS", "EXTERNAL CORROSION", MECHANISM,
     ["corrosion", "corroded", "corrosive", "rust", "rusted", "external corrosion", "pitting", "pitted",
      "atmospheric corrosion"]),
    ("CORROSION FAILURE", "CAUSE_DETAILS", "INTERNAL CORROSION", MECHANISM, ["internal corrosion"]),
    ("CORROSION FAILURE", "EXTRNL_COR_GALVANIC_IND", None, MECHANISM, ["galvanic", "galvanic corrosion"]),
    ("CORROSION FAILURE", "EXTRNL_COR_STRAY_CURRENT_IND", None, MECHANISM, ["stray current"]),
    ("CORROSION FAILURE", "EXTRNL_COR_MICROBIOLOGIC_IND", None, MECHANISM, ["microbiological"]),
    ("CORROSION FAILURE", "EXTRNL_COR_SELECTIVE_SEAM_IND", None, MECHANISM, ["selective seam"]),
    ("CORROSION FAILURE", "UNDER_CATHODIC_PROTECTION_IND", None, CIRCUMSTANCE,
     ["cathodic protection", "cathodically protected", "anode", "anodes", "coating", "bare steel", "unprotected"]),
    # Incorrect operation: what an operator did wrong.
    ("INCORRECT OPERATION", "OPERATION_TYPE",
     "VALVE LEFT OR PLACED IN WRONG POSITION, BUT NOT RESULTING IN AN OVERPRESSURE", CIRCUMSTANCE,
     ["left open", "wrong position", "valve left open"]),
    ("INCORRECT OPERATION", "OPERATION_TYPE", "PIPELINE OR EQUIPMENT OVERPRESSURED", CIRCUMSTANCE,
     ["overpressure", "overpressured", "over-pressure", "over pressurization", "overpressurization",
      "over-pressurized"]),
    ("INCORRECT OPERATION", "OPERATION_TYPE", "EQUIPMENT NOT INSTALLED PROPERLY", CIRCUMSTANCE,
     ["not installed properly", "improperly installed", "installed incorrectly", "improper installation"]),
    ("INCORRECT OPERATION", "OPERATION_TYPE", "WRONG EQUIPMENT SPECIFIED OR INSTALLED", CIRCUMSTANCE,
     ["wrong equipment"]),
    ("INCORRECT OPERATION", "OPERATION_TYPE",
     "DAMAGE BY OPERATOR OR OPERATOR'S CONTRACTOR NOT RELATED TO EXCAVATION AND NOT DUE TO MOTORIZED "
     "VEHICLE/EQUIPMENT DAMAGE", CIRCUMSTANCE, ["operator error", "human error", "employee error"]),
    ("INCORRECT OPERATION", "IO_INADEQUATE_PROCEDURE_IND", None, CIRCUMSTANCE, ["inadequate procedure"]),
    ("INCORRECT OPERATION", "IO_FOLLOW_PROCEDURE_IND", None, CIRCUMSTANCE,
     ["failed to follow", "did not follow", "not followed"]),
    ("INCORRECT OPERATION", "CATEGORY_TYPE", "COMMISSIONING", CIRCUMSTANCE, ["purging", "purge", "tie-in", "tie in"]),
    # Other incident cause: causes not determined.
    ("OTHER INCIDENT CAUSE", "UNKNOWN_SUBTYPE", "INVESTIGATION COMPLETE, CAUSE OF INCIDENT UNKNOWN", CIRCUMSTANCE,
     ["undetermined", "could not be determined", "cause unknown", "unable to determine"]),
    ("OTHER INCIDENT CAUSE", "OTHER_TYPE", "MISCELLANEOUS", CIRCUMSTANCE, ["miscellaneous"]),
]
# ISO 14224 failure mechanisms tied to the form's causes through their mechanism class:
# corrosion and erosion are corrosion failures (the form files erosion under internal
# corrosion: INTRNL_COR_EROSION_IND); breakage, fatigue and burst are material failures,
# which the 2004-2009 form named "material and/or weld failures" (today's pipe, weld or
# joint failure); control failures of instruments are control equipment malfunctions.
ISO_MECHANISM_CAUSES = {  # the mechanism's name (its label's words) -> the form's cause
    "corrosion": "CORROSION FAILURE", "erosion": "CORROSION FAILURE",
    "breakage": "PIPE, WELD, OR JOINT FAILURE", "fatigue": "PIPE, WELD, OR JOINT FAILURE",
    "burst": "PIPE, WELD, OR JOINT FAILURE", "control failure": "EQUIPMENT FAILURE",
}
# ISO 14224 synonyms a narrative uses in other senses ("no control" of a vehicle; "exploded"
# is what gas does after any cause; "broken" and "rupture" describe damage, not its mechanism).
ISO_SKIP = {"no control", "slow", "exploded", "broken", "rupture", "blown", "snapped", "breach", "pitting", "worm",
            "worn out"}


def words_of_camel(name):
    """'ACLineSegment' -> 'ac line segment', 'LeakageFailure' -> 'leakage failure'."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|\d+", name)
    return " ".join(p.lower() for p in parts)


def norm(text):
    return " ".join(text.replace("\t", " ").split()).lower().strip(" .,;")


def short(text):
    text = norm(text)
    return text if text and len(text.split()) <= MAX_OBJECT_WORDS else None


class Triples:
    def __init__(self):
        self.order = []          # (s, p, o) in source order
        self.seen = set()
        self.per_source = collections.Counter()
        self.source = {}         # (s, p, o) -> where the fact comes from

    def add(self, source, s, p, o):
        s, o = norm(s), short(o) if o else None
        if not s or not o or s == o or len(s) < 2:
            return
        if (s, p, o) in self.seen:
            return
        self.seen.add((s, p, o))
        self.order.append((s, p, o))
        self.source[(s, p, o)] = source
        self.per_source[source.split(",")[0].split(" failure mechanism")[0]] += 1


def iso14224(root, kg):
    src = "ISO 14224"
    modes = {}
    with open(os.path.join(root, "iso14224_failureModeCode.csv"), encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            code, name = row["ISO14224_FailureModeCode"].strip(), norm(row["ISO14224_FailureMode"])
            modes[code] = name
            if name not in ("other", "unknown"):
                kg.add(src, name, "means", row["ISO14224_FailureMode_Description"])
    with open(os.path.join(root, "ISO14224_failureModeCode_equipClassCode_matrix.csv"), encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    classes = [c.strip() for c in rows[0][1:]]
    for row in rows[1:]:
        mode = modes.get(row[0].strip())
        if mode is None:   # the matrix uses a few codes the code table does not name
            print(f"{root}: failure-mode matrix: code {row[0]!r} has no name; row left out", file=sys.stderr)
            continue
        for cls, cell in zip(classes, row[1:]):
            if cell.strip() == "1" and mode not in ("other", "unknown"):
                for surface in EQUIPMENT_SURFACES[cls]:
                    kg.add(src, surface, "has failure mode", mode)
    mechanisms = {}
    with open(os.path.join(root, "iso14224_class_failuremechanism.csv"), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        mechanisms[row["class"]] = words_of_camel(row["label"]).replace(" failure mechanism", " failure")
    for row in rows:
        name = mechanisms[row["class"]]
        superclass = row["superclass"]
        parent = mechanisms.get(superclass) or words_of_camel(superclass.split(":")[-1])
        if superclass.endswith("MaterialFailureMechanism") and superclass not in mechanisms:
            parent = "material failure"   # e.g. CorrosionMaterialFailureMechanism, not a row of its own
        description = re.sub(r"\s*14224\([\d.]+\)\s*$", "", row["description"])
        for synonym in row["synonyms"].split(","):
            if synonym.strip() and synonym.strip() not in GENERIC_SYNONYMS:
                kg.add(src, synonym, "is a sign of", name)
        kg.add(src, name, "is a", parent)
        kg.add(src, name, "means", description)
    # Terms and definitions (SKOS vocabulary): abbreviations and short definitions.
    ttl = open(os.path.join(root, "pidvocab14224.ttl"), encoding="utf-8").read()
    for block in re.split(r"\n###\s+\S+\n", ttl):
        label = re.search(r'rdfs:label "([^"]+)"@en', block)
        if not label or "owl:Class" not in block:
            continue
        term = norm(label.group(1))
        for alt in re.findall(r'skos:altLabel "([^"]+)"@en', block):
            kg.add(src, alt, "stands for", term)
        definition = re.search(r'skos:definition "([^"]+)"@en', block)
        if definition:
            kg.add(src, term, "means", definition.group(1))


def cgmes(path, kg):
    src = "IEC CIM (CGMES)"
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"^cim:(\w+) a owl:Class ;(.*?)\.\n\n", text, re.S | re.M):
        name, body = words_of_camel(m.group(1)), m.group(2)
        if name in CIM_COMMON_WORDS:
            continue
        parent = re.search(r"rdfs:subClassOf cim:(\w+)", body)
        if parent:
            kg.add(src, name, "is a", words_of_camel(parent.group(1)))
        comment = re.search(r'rdfs:comment (?:"""(.*?)"""|"(.*?)")', body, re.S)
        if comment:
            first = (comment.group(1) or comment.group(2) or "").split(".")[0]
            first = re.sub(r"^(an?|the)\s+", "", norm(first))
            first = re.split(r",| which | that | used | where ", first)[0]
            kg.add(src, name, "is", first)


def maintie(root, kg):
    src = "MaintIE"
    docs = json.load(open(os.path.join(root, "gold_release.json"), encoding="utf-8"))
    facts = collections.Counter()
    for doc in docs:
        tokens = doc["tokens"]
        names, physical = [], []
        for e in doc["entities"]:
            surface = " ".join(t for t in tokens[e["start"]:e["end"]] if not t.startswith("<"))
            names.append(surface)
            physical.append(e["type"].startswith("PhysicalObject"))
            kind = words_of_camel(e["type"].split("/")[-1])
            if physical[-1] and surface:
                facts[(surface.lower(), "is a", kind)] += 1
        for r in doc["relations"]:
            relation = RELATION_WORDS.get(r["type"])
            if relation is None:
                sys.exit(f"{root}/gold_release.json: unknown relation type {r['type']!r}")
            # Facts about equipment only: activities and states of work orders ("replace has
            # patient hose") say what one crew did, not what the equipment is.
            if physical[r["head"]]:
                facts[(names[r["head"]].lower(), relation, names[r["tail"]].lower())] += 1
    # The facts seen most often first, so K-BERT's first max_entities are the common ones.
    for (s, p, o), _ in sorted(facts.items(), key=lambda kv: (-kv[1], kv[0])):
        if re.fullmatch(r"[a-z][a-z -]+", s) and len(s) >= 3:
            kg.add(src, s, p, o)


def wordnet(root, corpus_words, kg):
    src = "WordNet"
    index = {}
    with open(os.path.join(root, "index.noun"), encoding="utf-8") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split()
            n_ptr = int(fields[3])
            index[fields[0]] = fields[6 + n_ptr:]   # synset offsets, most frequent sense first
    data = open(os.path.join(root, "data.noun"), encoding="utf-8").read()
    offsets = {}
    for line in data.splitlines():
        if not line.startswith(" "):
            offsets[line[:8]] = line

    def synset(offset):
        fields = offsets[offset].split(" | ")[0].split()
        lexfile, n_words = fields[1], int(fields[3], 16)
        words = [fields[4 + 2 * i].replace("_", " ").lower() for i in range(n_words)]
        i = 4 + 2 * n_words
        n_ptr = int(fields[i])
        ptrs = [(fields[i + 1 + 4 * k], fields[i + 2 + 4 * k]) for k in range(n_ptr)]
        return lexfile, words, ptrs

    other_pos = collections.Counter()   # senses of the word as adjective, verb, adverb
    for pos in ("adj", "verb", "adv"):
        with open(os.path.join(root, f"index.{pos}"), encoding="utf-8") as f:
            for line in f:
                if not line.startswith(" "):
                    fields = line.split()
                    other_pos[fields[0]] += int(fields[2])

    def gloss(offset):
        return set(re.findall(r"[a-z]+", offsets[offset].split(" | ", 1)[-1].lower()))

    for word in corpus_words:
        key = word.replace(" ", "_")
        if key not in index:
            continue
        # The sense: of those filed as artifacts, events, objects, phenomena or substances,
        # the most frequent one whose gloss shares nearly as many words with the domain as
        # the best one does, so "pipe" is the conduit (not the tobacco pipe) and "fire" the
        # event (not the fuel).
        senses = [o for o in index[key] if synset(o)[0] in WORDNET_LEXFILES]
        if not senses:
            continue
        overlap = {o: len(gloss(o) & DOMAIN_WORDS) for o in senses}
        best = next(o for o in senses if overlap[o] >= max(overlap.values()) - 2)
        if best != index[key][0] and overlap[best] < 1:
            continue   # a rare sense with nothing of the domain: "two" the playing card
        domain = len(gloss(best) & DOMAIN_WORDS)
        if (other_pos.get(key, 0) > len(index[key]) and domain < 3) or word in ORDINALS or word in WORDNET_SKIP:
            continue   # mostly an adjective, verb or adverb ("local" is not the train); "first" is not the gear
        # Hypernyms only: meronym lists are long and their first entries are rarely the
        # part a report means ("house has part box office"); "@i" instances are proper
        # names ("columbia" the river).
        for symbol, target in synset(best)[2]:
            if symbol == "@":
                kg.add(src, word, "is a", synset(target)[1][0])


def corpus_nouns(path, min_count):
    """Words and two-word phrases of the training narratives, min_count times or more."""
    counts = collections.Counter()
    with open(path, encoding="utf-8") as f:
        f.readline()
        for line in f:
            words = re.findall(r"[a-z]+", line.split("\t", 1)[1])
            counts.update(w for w in words if len(w) > 2)
            counts.update(f"{a} {b}" for a, b in zip(words, words[1:]))
    return sorted(w for w, c in counts.items() if c >= min_count)


def form_vocabulary(path, columns):
    """The values each of `columns` takes in PHMSA's 2010+ form file (the form's vocabulary:
    which values exist, not which report has which cause)."""
    raw = open(path, "rb").read().decode("latin-1").split("\r\n")
    header = raw[0].split("\t")
    col = {name: i for i, name in enumerate(header)}
    missing = sorted(c for c in columns if c not in col)
    if missing:
        sys.exit(f"{path}: line 1: no column {missing[0]}")
    values = {c: set() for c in columns}
    for line in raw[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            continue
        for c in columns:
            v = fields[col[c]].strip().strip('"').strip()
            if v:
                values[c].add(v)
    return values


def cause_ontology(shared, kg):
    """PHMSA's cause taxonomy as facts (surface  relation  cause), and ISO 14224's failure
    mechanisms tied to the causes through their mechanism class. Each value of the table is
    checked against the form's vocabulary, so a typo cannot invent a category."""
    form = os.path.join(shared, "phmsa", "incident_gas_distribution_jan2010_present.txt")
    vocab = form_vocabulary(form, sorted({c for _, c, _, _, _ in CAUSE_TAXONOMY}))
    for cause, column, value, relation, surfaces in CAUSE_TAXONOMY:
        if value is not None and value not in vocab[column]:
            sys.exit(f"{form}: column {column} has no value {value!r} (build_kg.py's CAUSE_TAXONOMY)")
        source = f"PHMSA form F 7100.1, {cause} / {column}" + (f" = {value}" if value else "")
        for surface in surfaces:
            kg.add(source, surface, relation, CAUSE_NAMES[cause])
    with open(os.path.join(shared, "iso14224", "iso14224_class_failuremechanism.csv"), encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            name = words_of_camel(row["label"])
            cause = ISO_MECHANISM_CAUSES.get(name)
            if cause is None:
                continue
            source = f"ISO 14224 failure mechanism {row['class']} -> PHMSA {cause}"
            surfaces = [name] + [x.strip() for x in row["synonyms"].split(",")]
            for surface in surfaces:
                if surface and surface not in GENERIC_SYNONYMS and surface not in ISO_SKIP:
                    kg.add(source, surface, MECHANISM, CAUSE_NAMES[cause])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=os.path.join(repo, "..", "shared", "data"))
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--train", default=os.path.join(repo, "data", "fault_reports", "phmsa_train.tsv"),
                    help="narratives whose nouns WordNet knowledge is gathered for (training split only)")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--ontology", choices=("energy", "causes"), default="energy",
                    help="energy: the equipment KG (energy.spo); causes: PHMSA's cause taxonomy and ISO 14224's "
                         "mechanisms as typed facts with their sources (causes.tsv)")
    ap.add_argument("--out", help="default: data/fault_reports/energy.spo or causes.tsv")
    args = ap.parse_args()
    args.data = os.path.join(repo, "data", "fault_reports")

    kg = Triples()
    if args.ontology == "causes":
        cause_ontology(args.shared, kg)
    else:
        iso14224(os.path.join(args.shared, "iso14224"), kg)
        cgmes(os.path.join(args.shared, "cgmes", "61970-600-2_Equipment-AP-Voc-RDFS2020_v3-0-0.ttl"), kg)
        maintie(os.path.join(args.shared, "maintie"), kg)
        if os.path.exists(os.path.join(args.wordnet, "index.noun")):
            wordnet(args.wordnet, corpus_nouns(args.train, args.min_count), kg)
        else:
            print(f"{args.wordnet}: no WordNet (apt-get install wordnet-base); left out", file=sys.stderr)
    out = args.out or os.path.join(args.data, "causes.tsv" if args.ontology == "causes" else "energy.spo")

    # Group by subject, keeping each subject's triples in source order.
    by_subject = collections.OrderedDict()
    for s, p, o in kg.order:
        by_subject.setdefault(s, []).append((p, o))
    for s in by_subject:   # stable: sources keep their order within a relation rank
        by_subject[s].sort(key=lambda po: RELATION_RANK.get(po[0], 5))
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        if args.ontology == "causes":  # a TSV with a header: kbert reads subject/predicate/object, people the rest
            f.write("subject\tpredicate\tobject\tfact_source\n")
        for s, pos in by_subject.items():
            for p, o in pos:
                f.write(f"{s}\t{p}\t{o}" + (f"\t{kg.source[(s, p, o)]}" if args.ontology == "causes" else "") + "\n")
    os.replace(tmp, out)
    for source, n in kg.per_source.items():
        print(f"{source}: {n} triples")
    print(f"{out}: {len(kg.order)} triples, {len(by_subject)} subjects")


if __name__ == "__main__":
    main()
