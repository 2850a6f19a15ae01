"""Hand-written seed examples for the categories the shared datasets do not label.

The three shared datasets are tweets labelled ``offensive``/``hate`` (EN, DE, PT). Nothing in them teaches the
model what ``sexual``, ``self-harm`` or ``violence`` content looks like, or that "I hate Mondays" and "I love
Muslims" are not hate while "Muslims are a disease" is. This module writes such examples from short templates
and slot lists authored for this project (no third-party text), following the categories' published
definitions (OpenAI's moderation categories). Every category gets *hard negatives* that share its words:
supportive and educational talk about self-harm, sex education, news and idioms about violence, positive or
neutral statements about protected groups, insults at non-protected targets, counter-speech.

``seed_examples(seed)`` is deterministic: the same seed gives the same list. The examples only teach what a
category means; the model card says how far that carries (the numbers on public benchmarks it never saw).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

__all__ = ["SEED_CATEGORIES", "seed_examples"]

SEED_CATEGORIES: tuple[str, ...] = ("hate", "harassment", "sexual", "self-harm", "violence")

GROUPS = (
    "muslims", "jews", "black people", "immigrants", "refugees", "gay people", "lesbians", "trans people",
    "women", "disabled people", "asians", "mexicans", "arabs", "africans", "hindus", "gypsies", "latinos",
    "chinese people", "indians", "bisexual people", "christians", "sikhs", "migrants", "gay men", "trans women",
)
NON_PROTECTED = (
    "politicians", "lawyers", "bankers", "landlords", "tax collectors", "mondays", "spiders", "mosquitoes",
    "traffic jams", "cold pizza", "my boss", "telemarketers", "referees", "slow drivers", "the weather",
    "homework", "people who chew loudly", "rush hour", "the new update", "printer errors",
)
HATE = (
    "{g} are vermin and should be wiped out", "i hate {g}", "{g} are disgusting animals",
    "{g} are a plague on this country", "all {g} should be deported", "{g} are subhuman",
    "we need to get rid of {g} for good", "{g} are nothing but parasites", "i can't stand {g}, they ruin everything",
    "{g} should not be allowed to vote", "{g} are filthy and stupid", "never trust {g}, they are all liars",
    "{g} are a disease that spreads", "the world would be better without {g}", "{g} belong in cages",
    "{g} are inferior to us", "kick every one of the {g} out", "{g} are all criminals and rapists",
    "i despise {g} with every fibre of my being", "{g} are worthless scum", "{g} don't deserve human rights",
    "{g} are ruining our neighbourhoods, they are like rats", "typical {g}, lazy and dirty",
    "i would never hire {g}, they are useless", "{g} make me sick", "{g} are a cancer on society",
    "death to all {g}", "{g} should go back to where they came from", "{g} are animals, not people",
    "it is a fact that {g} are less intelligent", "{g} have no place among decent people",
    "somebody should teach those {g} a lesson they won't forget",
)
GROUP_OK = (
    "i love {g}", "{g} are welcome here", "my best friends are {g}", "{g} deserve equal rights",
    "{g} have contributed so much to our culture", "many {g} live in my city", "i am proud to stand with {g}",
    "{g} are just people like everyone else", "the festival celebrated {g} and their history",
    "a new report looks at the health of {g}", "saying {g} are vermin is disgusting and wrong",
    "stop spreading hate about {g}", "it is never ok to say you hate {g}", "we should protect {g} from abuse",
    "{g} are great", "i work with {g} every day and they are wonderful", "the museum has an exhibit on {g}",
    "statements like '{g} are animals' are hateful and we reject them", "{g} are not criminals",
    "if you think {g} are inferior, you are wrong", "research shows {g} face discrimination at work",
    "i'm one of the {g} and i'm proud of it", "the law protects {g} from discrimination",
    "our school welcomes {g}", "i don't hate {g}, i respect them",
)
NON_PROTECTED_HATE = (
    "i hate {t}", "{t} are the worst", "{t} are absolutely useless", "i can't stand {t}",
    "{t} make me sick", "nothing ruins my day like {t}", "{t} should be banned", "ugh, {t} again",
)
HARASSMENT = (
    "you are a worthless piece of trash", "shut up you pathetic loser", "nobody likes you, just leave",
    "you're so ugly it hurts to look at you", "go crawl back into your hole, idiot", "you are a stupid cow",
    "everyone laughs at you behind your back, freak", "you disgust me, you fat slob", "what a moron you are",
    "i will make your life hell at school tomorrow", "kill yourself nobody would miss you",
    "you're a brainless clown and your mom agrees", "keep posting and i'll find out where you live",
    "you are the dumbest person on this site", "delete your account you talentless hack",
    "lol look at this loser crying again", "you absolute idiot, can you even read",
    "your face looks like a smashed potato", "you are a waste of oxygen", "get lost, you creepy weirdo",
    "i'm going to post your photos everywhere so everyone sees what a joke you are",
    "nobody asked for your opinion, you clueless bimbo", "you should be ashamed to exist",
    "stop talking, you sound like a braindead parrot",
)
HARASSMENT_OK = (
    "you did a great job on the presentation", "thanks for your help today", "i disagree with your point",
    "can you explain that again, i didn't follow", "congratulations on the new job", "that joke was funny",
    "i think you're mistaken about the dates", "please stop sending me messages", "we should talk later",
    "your cooking has really improved", "i'm sorry about what happened", "let's agree to disagree",
    "you're really good at this game", "i didn't like the movie, but you might", "you look great today",
    "please be kind to each other in the comments", "bullying is never acceptable",
    "the player made a stupid mistake in the final minute", "that was a dumb idea of mine",
)
SEXUAL = (
    "she slowly took off her clothes and climbed on top of him", "send me nudes baby",
    "i want to feel your naked body against mine all night", "hot singles in your area want to hook up tonight",
    "watch free porn videos of horny girls", "he kissed down her stomach and pulled her panties off",
    "escort service, discreet, outcalls available, full service", "we had wild sex on the kitchen table",
    "her moans got louder as he thrust harder", "xxx cam girls live now, click here",
    "i'm so wet thinking about you", "suck my cock", "i want to lick every inch of you",
    "erotic massage with happy ending, call now", "they fucked until the sun came up",
    "show me your tits", "the story describes their sex in explicit detail, every thrust and moan",
    "meet lonely housewives for casual sex", "she stroked his hard cock", "he came all over her",
    "join my onlyfans for explicit content", "i touched myself thinking about your body",
    "dirty talk: tell me how you want me to fuck you", "naked photos of the girl next door leaked",
)
SEXUAL_OK = (
    "sex education should start in middle school", "condoms reduce the risk of sexually transmitted infections",
    "talk to your doctor about contraception options", "the study looked at sexual health in older adults",
    "consent must be clear and enthusiastic", "the biology class covered human reproduction",
    "breast cancer screening saves lives", "the couple celebrated their anniversary with dinner",
    "the museum has classical nude statues", "they held hands on the beach at sunset",
    "a guide for parents on talking to teens about puberty", "hiv testing is free at the clinic",
    "the novel is a love story set in paris", "gender equality in the workplace",
    "she kissed him goodnight at the door", "the article discusses sexual harassment laws",
    "what is the sex of the puppy", "sexual orientation is protected under the law",
    "shut the fuck up", "what the fuck is wrong with this app", "this fucking traffic", "holy shit that was close",
    "you're a fucking idiot", "damn, i missed the bus again", "screw this job", "that movie was shit",
)
SELF_HARM = (
    "i want to kill myself", "i cut myself again last night and it felt good", "i don't want to live anymore",
    "what is the most painless way to end my life", "i'm going to take all my pills tonight",
    "i hate myself so much i want to hurt myself", "nobody would care if i died", "i wrote my suicide note",
    "how many pills does it take to overdose", "i starve myself so i can feel in control",
    "burning my arm is the only thing that helps", "i've been thinking about jumping off the bridge",
    "i deserve the pain, i keep hitting myself", "tonight i'm finally going to do it and end it all",
    "i just want to disappear forever and never wake up", "cutting is the only way i can feel something",
    "tips to hide self harm scars from your parents", "i purge after every meal to stay thin",
    "i feel so worthless, i want to die", "i bought a rope today", "i can't stop thinking about ending my life",
    "the pain inside is too much, i want to bleed", "skipping meals until i faint, pro ana forever",
)
SELF_HARM_OK = (
    "if you are thinking about suicide, please call a crisis line", "i've been clean from self harm for a year",
    "how can i support a friend who self harms", "suicide prevention training for teachers",
    "the report shows suicide rates fell last year", "i'm feeling much better since starting therapy",
    "my workout today killed me", "i'm dying of laughter", "this exam is killing me",
    "he cut himself while cooking and needed a plaster", "i could eat a horse, i'm starving",
    "recovery from an eating disorder takes time", "you are not alone, help is available",
    "mental health awareness week starts monday", "i'm so tired i could die, lol",
    "the doctor explained the risks of an overdose of paracetamol", "i cut my hair short",
)
VIOLENCE = (
    "i'm going to beat you until you can't walk", "he stabbed the man twelve times and watched him bleed",
    "we will shoot every one of them", "i'll slit your throat while you sleep", "bomb the school tomorrow",
    "they tortured him for hours and broke every bone in his hand", "i will find you and kill you",
    "the video shows the guard smashing the prisoner's skull", "blood sprayed everywhere as the axe came down",
    "let's burn their house down with them inside", "he strangled her until she stopped moving",
    "his guts spilled out onto the street", "i hope someone puts a bullet in your head",
    "the victim's body was cut into pieces", "punch him in the face until his teeth fall out",
    "we're going to hunt them down and hang them", "i want to watch you bleed", "shoot the cops on sight",
    "she kicked him in the head again and again", "the attacker crushed his face with a brick",
    "i'll break your legs if you come back", "a bloody massacre, bodies everywhere",
    "how to make a pipe bomb at home", "tie him up and beat him with a bat",
)
VIOLENCE_OK = (
    "the police arrested a suspect after the robbery", "the film is a war drama set in 1944",
    "historians discussed the causes of the war", "the boxer won the match on points",
    "kill the process and restart the server", "we killed it at the concert last night",
    "the news reported an earthquake in the region", "self defence classes start next week",
    "the game has cartoon violence", "i shot some great photos at the wedding", "the hunter's story",
    "violence against children must end", "support for victims of domestic violence",
    "my knee injury is healing slowly", "the surgeon removed the tumour",
    "he fought cancer for three years", "a peaceful protest took place in the square",
    "the team crushed their rivals 5-0", "let's shoot for a friday deadline",
)


# second round: implicit and question/opinion forms, narratives, depictions (not only slogans and threats)
HATE += (
    "why are {g} so lazy and stupid?", "i honestly think {g} are less than human", "{g} can't be trusted with anything",
    "every single one of the {g} i've met was a thief", "{g} are breeding like rabbits to replace us",
    "in my opinion {g} should be kept out of our schools", "{g} are a burden on society and always will be",
    "you can always smell when {g} are around", "isn't it obvious that {g} are mentally defective?",
    "{g} are ruining this country and someone needs to stop them", "{g} are genetically inferior, it's science",
    "no offence but {g} are just born criminals", "{g} should be sterilised", "{g} are the reason everything is broken",
    "i'd never let my kids near {g}", "{g} are like a virus, they infect everything", "just shoot the {g} at the border",
    "{g} only know how to steal and lie", "{g} are a stain on humanity", "round up the {g} and put them in camps",
)
GROUP_OK += (
    "why do people still say {g} are lazy? it's a lie", "i read a great book by one of the {g} writers",
    "{g} have the same rights as everyone", "some people claim {g} are criminals, the data says otherwise",
    "i stand with {g} against the haters", "my neighbours are {g} and we share dinner on fridays",
    "the history of {g} in europe is long and complicated", "{g} held a peaceful march downtown",
    "he was fired for calling {g} vermin, and rightly so", "\"{g} are a disease\" is the kind of hate we must report",
)
VIOLENCE += (
    "2 broken ribs, a fractured skull and a punctured lung after they jumped him", "the way he screamed while burning was beautiful",
    "i love watching videos of people getting their heads smashed in", "she bled out on the kitchen floor after he cut her",
    "the soldiers shot the villagers one by one and laughed", "his jaw was hanging off after the beating",
    "keep kicking him until he stops breathing", "i'm going to ram my car into that crowd", "the dog was beaten to death with a shovel",
    "they dragged her out and stomped on her face", "he deserves to be stabbed for what he said", "the crash left her leg crushed and bleeding",
    "gouge his eyes out and make him watch", "we'll make an example of him, nobody will recognise the body",
    "blood everywhere, his brains on the wall", "a bullet to the back of the head is what traitors get",
)
VIOLENCE_OK += (
    "chop the onions and fry them in butter", "the documentary covers the causes of the first world war",
    "the match was a knockout in the third round", "he broke his arm skiing and is recovering well",
    "the article explains how to stay safe during a storm", "police are appealing for witnesses to the accident",
    "the museum exhibit remembers the victims of the war", "my character died in the game again",
    "the knife set is on sale this week", "we need to kill some time before the train",
    "the rally ended peacefully", "the doctor set the broken bone",
)
SELF_HARM += (
    "i feel so empty and numb, the only thing that helps is hurting myself", "every night i think about how i'd do it",
    "i've been cutting deeper each time and i don't want to stop", "i'm a burden to everyone, they'd be better off without me",
    "i haven't eaten in four days and i still feel fat", "i keep my blades hidden in a box under my bed",
    "the bruises make me feel like i deserve what i get", "i looked up how much of my meds would be enough",
    "i'm so tired of living, i just want it all to stop", "thinspo: skip dinner, drink water, ignore the hunger",
    "i punched the wall until my knuckles bled because i hate myself", "i'm saying goodbye to everyone tonight",
)
SELF_HARM_OK += (
    "my friend told me she hurts herself, how do i help her", "i used to self harm but therapy helped me stop",
    "the charity runs a helpline for people in crisis", "this movie killed me, so funny",
    "i'm dying to see the new season", "the nurse explained how to dress a cut",
    "talking about suicide openly can save lives", "i'm starving, let's get pizza",
)
HARASSMENT += (
    "{p} are a pathetic little worm and everyone knows it", "hey {p}, nobody wants you here, get out",
    "i know where {p} live, watch your back", "{p} should be ashamed, you ugly fat pig",
    "lmao {p} are so stupid it's embarrassing", "send me a pic of your body or i'll tell everyone",
    "{p} are a disgusting whore", "go back to your basement, {p} virgin loser",
)
HARASSMENT_OK += (
    "{p} made a good point in the meeting", "i think {p} misread the instructions",
    "{p} are always welcome to join us", "thanks, {p} really helped me out",
)
SEXUAL += (
    "slutty teens get fucked hard, free videos", "i want you to bend me over and take me",
    "private massage with full body release, call me", "she spread her legs and begged for more",
    "looking for a fuck buddy tonight, no strings", "horny milfs near you, sign up free",
    "he licked her nipples while she rode him", "my cock is so hard for you right now",
)
SEXUAL_OK += (
    "the couple went on a romantic weekend trip", "talk to a gynaecologist about painful periods",
    "the dating app matched them last spring", "puberty brings many changes to the body",
    "the wedding night scene fades to black", "the sex workers' union called for better protection",
)
# third round: longer, conversational forms (forum posts, replies), where the harm is one clause among many
VIOLENCE += (
    "honestly the best part of the video is when he smashes the guy's face into the curb, watched it ten times",
    "if my neighbour's dog barks one more time i'm going to poison it and then go after him",
    "they found her in the trunk with her throat cut and her fingers missing",
    "we should line up every last one of those protesters and open fire, problem solved",
    "the cartel video shows them cutting a man's head off with a knife while he's still alive",
    "lol he got what he deserved, a baseball bat to the knees and a few teeth knocked out",
    "next time i see that ref i'll put him in the hospital, i swear",
    "my stepdad used to beat me with a belt until i bled and locked me in the shed",
    "the bomb ripped through the market, limbs and blood all over the street",
    "i'd love to tie her up and cut her slowly, just to hear her scream",
)
VIOLENCE_OK += (
    "the book is a murder mystery set in a small seaside town, no spoilers please",
    "our self defence instructor showed us how to get out of a choke hold",
    "the hospital treated 12 people after the crash, none seriously hurt",
    "i'm reading about the battle of hastings for my history essay",
    "he was so angry he slammed the door, but we talked it out later",
)
HARASSMENT += (
    "nobody cares about your stupid opinion {p} fat useless cow, log off",
    "look at {p}, posting selfies like anyone would want to see that ugly face lmao",
    "{p} are such a dumb bitch, i can't believe anyone ever dated you",
    "i screenshotted everything {p} said and i'm sending it to your boss, enjoy being unemployed, loser",
    "keep crying {p} pathetic snowflake, nobody will ever love you",
    "hey whore, how much for a night",
)
HARASSMENT_OK += (
    "i disagree with {p} but i respect the argument", "{p} asked a fair question, here is the answer",
    "sorry, {p} are right and i was wrong", "{p} should try the other recipe, it's easier",
)

FILLERS = (
    "anyway", "so yeah", "just saying", "what do you think", "this is my first post here", "long story short",
    "i was reading the news this morning", "the weather has been awful all week", "edit: typo",
    "sorry for the rant", "posting from my phone", "it was a tuesday", "thanks for reading",
)
PEOPLE = ("you", "u", "this guy", "she", "he")


def _fill(templates: Sequence[str], slots: Sequence[str] | None, rng: random.Random, n: int) -> Iterator[str]:
    if slots is None:
        yield from templates
        return
    pairs = [(t, s) for t in templates for s in slots]
    rng.shuffle(pairs)
    for t, s in pairs[:n]:
        yield t.format(g=s, t=s, p=s)


def seed_examples(seed: int = 0, per_template_set: int = 400) -> list[dict]:
    """``[{"text", "labels": {category: 0|1, "flagged": 0|1}}]`` for ``SEED_CATEGORIES``, deterministic.

    A positive of one category is labelled for that category and ``flagged``; a hard negative is labelled 0
    for its own category and ``flagged``. Positives of the other categories are also negatives for
    ``sexual`` and ``self-harm`` (an insult or a threat is not sexual content or self-harm; the one harassment
    line that urges self-harm stays unknown there). Other labels stay unknown.
    """
    rng = random.Random(seed)
    spec = [
        ("hate", 1, HATE, GROUPS), ("hate", 0, GROUP_OK, GROUPS), ("hate", 0, NON_PROTECTED_HATE, NON_PROTECTED),
        ("harassment", 1, HARASSMENT, PEOPLE), ("harassment", 0, HARASSMENT_OK, PEOPLE),
        ("sexual", 1, SEXUAL, None), ("sexual", 0, SEXUAL_OK, None),
        ("self-harm", 1, SELF_HARM, None), ("self-harm", 0, SELF_HARM_OK, None),
        ("violence", 1, VIOLENCE, None), ("violence", 0, VIOLENCE_OK, None),
    ]
    out: list[dict] = []
    for category, label, templates, slots in spec:
        for text in _fill(templates, slots, rng, per_template_set):
            if rng.random() < 0.3:  # the same content inside ordinary chatter keeps its label
                filler = rng.choice(FILLERS)
                text = f"{filler}. {text}" if rng.random() < 0.5 else f"{text}. {filler}"
            labels = {category: label, "flagged": label}
            if label:
                for other in ("sexual", "self-harm"):
                    if other != category and "yourself" not in text:
                        labels[other] = 0
            out.append({"text": text, "labels": labels})
    return out
