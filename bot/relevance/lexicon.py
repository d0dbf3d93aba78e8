"""Word classes the relevance model reads instead of (and beside) the words themselves.

A model trained on a few thousand labelled items has seen "troops" and "sends" but maybe not
"paratroopers" or "amassed"; mapping both to <UNIT> and <SEND> lets what it learned about one
carry to the other, which is what makes it hold on news nobody tuned it on. Entries are
lowercase words after `stem` (see `bot.stories.stem`), or their unstemmed form; a trailing
"*" makes an entry a prefix. Multi-word cues are matched as word sequences.

These lists are part of the model: change them and the model must be retrained
(`python -m bot.relevance.train`), which records a digest of this module's lists.
"""

from __future__ import annotations

CLASSES: dict[str, str] = {
    # Armed forces that can be sent somewhere.
    "UNIT": """troop troops soldier soldiers servicemen servicemembers serviceman marine marines
        paratrooper* commando commandos infantry infantrymen army armies navy navies sailor
        sailors airmen guardsmen guardsman reservist reservists reinforcement reinforcements
        peacekeeper peacekeepers peacekeeping battalion* brigade* regiment* squadron* division
        divisions contingent contingents warship* frigate* destroyer destroyers submarine*
        cruiser cruisers corvette* minesweeper* gunboat* flotilla flotillas fleet fleets armada
        carrier carriers bomber bombers warplane* fighter fighters jets jet
        legionnaire* gendarme* militaries military forces force garrison garrisons
        personnel units unit mercenaries mercenary special-forces trainers advisers advisors
        observers""",
    # Sending, moving, massing, stationing, arriving.
    "SEND": """send sends sending sent deploy* redeploy* dispatch* station stationed stationing
        reinforce* mass massed masses massing amass* buildup build-up mobiliz* mobilis* rush
        rushes rushed rushing airlift* sealift* ferry ferried move moves moved moving
        arrive* arrival land lands landed landing head heads headed heading sail sails sailed
        sailing enter enters entered entering gather gathers gathered gathering surge surges
        surged bolster* beef beefs beefed boost boosts boosted boosting expand expands
        expanded order orders ordered commit commits committed pledge pledges pledged
        contribute* assemble* concentrate* converge* posted base based basing transfer*
        relocate* dispatched put activate* increase* presence standby alert""",
    "WITHDRAW": """withdraw* withdrew pullout pullback pull pulls pulled pulling drawdown exit
        exits exited leave leaves leaving left evacuate* retreat* demobiliz* demobilis* recall
        recalls recalled reduce reduces reduced reducing reduction cut cuts cutting home
        homecoming disband* disengage*""",
    # "Rule" is a negation only as "rule out" (PHRASES): a parliament "to rule on" sending
    # troops is considering it, a deployment by the guidelines.
    "NEG": """no not never nor n't won't wouldn't cannot can't don't doesn't didn't isn't
        aren't wasn't deny denies denied denial reject* refus* oppose*
        opposed against unlikely halt* cancel* suspend* scrap* shelve* veto* block* rebuff*
        dismiss* without renounc* forgo* forswear*""",
    "HYP": """could may might would should if whether consider* weigh weighs weighed weighing
        mull* plan plans planned planning propose* proposal possible possibly ready prepare*
        prepared prepares threat* threaten* warn* warning urge* urges urged demand* demands
        asks asked ask call calls called seek seeks sought want wants wanted request* option*
        debate* discuss*""",
    "COMBAT": """kill* killed dead die dies died death deaths wound* injur* attack* clash*
        battle* fight* fighting shell* bomb* strike strikes struck raid* ambush* casualt*
        offensive capture* captured advance* siege besiege* storm* shot shoot* fire fired
        firing push pushed pushes pushing seize* seized recapture* assault* airstrike*
        missile-strike hostage* massacre* explosion blast""",
    "ARMS": """weapon weapons arms missile missiles tank tanks artillery ammunition munition*
        rifle rifles drone drones equipment hardware sale sales sell sells sold contract
        contracts deal deals purchase* buy buys bought himars patriot patriots howitzer*
        rocket rockets launcher launchers""",
    # Not armed forces: their deployments are not troop deployments.
    "POLICE": """police policemen officers officer cops agents agent marshals patrol
        ice fbi swat""",
    "EXERCISE": """exercise exercises drill drills wargame wargames maneuver* manoeuvre*
        rehearsal* training""",
    "PLACE": """border borders frontier frontiers region regions zone zones coast coastal
        waters sea gulf strait straits base bases island islands peninsula province city
        capital area areas front frontline frontlines""",
    "NUM": """hundreds thousands dozens tens million millions several more additional extra
        fresh new another""",
    "LEGAL": """court courts trial trials sentenced convicted guilty charged charges accused
        jail jailed prison lawsuit sue sued judge verdict""",
    "MONEY": """pay salary salaries pension pensions budget budgets spending cost costs bill
        funding fund funds dollars dlrs billion""",
    "POLITICS": """membership member members join joins joined joining alliance bid accession
        election elections vote votes voted poll polls campaign""",
}

# Negations that qualify only what follows them: after armed forces they say where the forces
# go or what they fight ("Chad sends troops to back CAR army against rebels", "without a UN
# mandate"), and read as a refusal there they vetoed such deployments (of the 25 train and
# validation titles with "against" shortly after an armed force, 3 were deployments; the
# others were not for other reasons: combat, protests).
NEG_ONLY_BEFORE = "against without"

# Words that make a "deployment" one of computing or equipment, not of forces: a title with
# a verb of deploying and one of these, and no armed force named, is vetoed (`features`,
# "t!COMPUTING"). Business wires carry many ("NCO deploys CRM application for major client").
COMPUTING = """software app apps application applications cloud server servers network networks
    networking broadband wireless wifi fiber fibre platform platforms solution solutions
    technology technologies data database databases analytics crm erp saas sdn ip iptv vpn
    5g lte meter meters customer customers client clients users firmware kubernetes container
    containers linux windows desktop desktops laptops pcs devices sensors robot robots chatbot
    ai online digital internet web telecom smartphones"""

# Word sequences read as one class token (after stemming each word).
PHRASES: dict[str, str] = {
    "national guard": "UNIT",
    "special forces": "UNIT",
    "marine corps": "UNIT",
    "air force": "UNIT",
    "armed forces": "UNIT",
    "task force": "UNIT",
    "strike group": "UNIT",
    "boots on the ground": "UNIT",
    "build up": "SEND",
    "built up": "SEND",
    "building up": "SEND",
    "beef up": "SEND",
    "step up": "SEND",
    "called up": "SEND",
    "call up": "SEND",
    "calls in": "SEND",
    "called in": "SEND",
    "call in": "SEND",
    "join forces": "POLITICS",  # companies or parties cooperating: no force is sent
    "joins forces": "POLITICS",
    "joined forces": "POLITICS",
    "joining forces": "POLITICS",
    "riot police": "POLICE",
    "federal agents": "POLICE",
    "border patrol": "POLICE",
    "flew into": "SEND",
    "flown into": "SEND",
    "flown to": "SEND",
    "bound for": "SEND",
    "en route": "SEND",
    "on standby": "SEND",
    "on alert": "SEND",
    "moved into": "SEND",
    "move into": "SEND",
    "pull out": "WITHDRAW",
    "pulled out": "WITHDRAW",
    "pulling out": "WITHDRAW",
    "pull back": "WITHDRAW",
    "pulled back": "WITHDRAW",
    "bring home": "WITHDRAW",
    "brought home": "WITHDRAW",
    "return home": "WITHDRAW",
    "draw down": "WITHDRAW",
    "rule out": "NEG",
    "rules out": "NEG",
    "ruled out": "NEG",
    "ruling out": "NEG",
    "no plans": "NEG",
    "no plan": "NEG",
    "turns down": "NEG",
    "turned down": "NEG",
    "turn down": "NEG",
    "war games": "EXERCISE",
    "military aid": "ARMS",
    "security assistance": "ARMS",
    "war game": "EXERCISE",
    "tens of thousands": "NUM",
}
