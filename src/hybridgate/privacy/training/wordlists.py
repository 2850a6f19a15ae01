"""Hand-written word lists (written for this project) merged into the lexicon by ``build_lexicon``."""

from __future__ import annotations

STREET_WORDS = """
street st str road rd avenue ave av avda avenida drive dr lane ln way court ct place pl square sq boulevard blvd
terrace crescent close parkway pkwy highway hwy circle cir alley row walk mews hill gardens grove park view rise
apt apartment suite ste unit box po p.o floor fl building bldg room flat psc apo fpo dpo usns uscgc uss usnv usns
rue chemin allée impasse quai cours via viale piazza vicolo corso calle carrera rua travessa largo praça estrada
rodovia strasse straße str gasse weg platz allee ring ufer damm chaussee steig pfad gata gatan vägen väg vej vei
veien gade allé stræde torv tie katu polku kuja tori laan straat plein gracht kade singel dreef ul ulica aleja
plac os u utca út tér körút köz sor ulice náměstí třída nábřeží cesta trg ulica ulitsa prospekt pereulok
odos leoforos plateia sokak cadde mahalle marg nagar chowk lu jie dao lu jalan jl gang soi thanon
""".split()

ORG_WORDS = """
inc incorporated corp corporation co company ltd limited llc llp lp plc gmbh ag sa sas sarl srl spa bv nv ab asa oy
as kft zrt sro doo pty group holdings holding partners associates international global worldwide systems solutions
technologies technology tech labs laboratories software services consulting capital investments investment bank
bancorp financial insurance industries enterprises ventures networks media communications telecom energy health
healthcare pharmaceuticals pharma biosciences bioscience therapeutics analytics data foundation institute
university college agency bureau council association society trust fund federation union alliance
""".split()

TITLES = ["mr", "mrs", "ms", "mx", "dr", "prof", "miss", "sir", "dame", "rev", "lord", "lady", "madam", "mme", "mlle",
          "herr", "frau", "sr", "sra", "srta", "sig", "dott"]

NATIONALITIES = """
afghan albanian algerian american andorran angolan argentine argentinian armenian australian austrian azerbaijani
bahamian bahraini bangladeshi barbadian belarusian belgian belizean beninese bhutanese bolivian bosnian botswanan
brazilian british bruneian bulgarian burkinabe burmese burundian cambodian cameroonian canadian cape-verdean chadian
chilean chinese colombian comorian congolese costa-rican croatian cuban cypriot czech danish djiboutian dominican
dutch ecuadorean ecuadorian egyptian emirati english equatoguinean eritrean estonian ethiopian fijian filipino finnish
french gabonese gambian georgian german ghanaian greek grenadian guatemalan guinean guyanese haitian honduran
hungarian icelandic indian indonesian iranian iraqi irish israeli italian ivorian jamaican japanese jordanian
kazakh kenyan korean kosovar kuwaiti kyrgyz laotian latvian lebanese liberian libyan lithuanian luxembourgish
macedonian malagasy malawian malaysian maldivian malian maltese mauritanian mauritian mexican moldovan monegasque
mongolian montenegrin moroccan mozambican namibian nepalese nepali nicaraguan nigerian nigerien norwegian omani
pakistani palestinian panamanian paraguayan peruvian polish portuguese qatari romanian russian rwandan salvadoran
samoan saudi scottish senegalese serbian seychellois singaporean slovak slovakian slovenian somali south-african
spanish sri-lankan sudanese surinamese swazi swedish swiss syrian taiwanese tajik tanzanian thai togolese tongan
trinidadian tunisian turkish turkmen ugandan ukrainian uruguayan uzbek venezuelan vietnamese welsh yemeni zambian
zimbabwean greenlandic faroese basque catalan kurdish tamil punjabi bengali arab arabic hispanic latino latina
latinx asian african european caucasian jewish muslim christian catholic protestant hindu buddhist sikh atheist
agnostic mormon orthodox lutheran baptist methodist evangelical shia shiite sunni jew muslims christians hindus
buddhists sikhs jews englishman englishwoman englishmen frenchman frenchwoman frenchmen dutchman dutchwoman
dutchmen irishman irishwoman scotsman scotswoman welshman welshwoman swede swedes dane danes finn finns pole poles
turk turks spaniard spaniards briton britons scot scots icelander icelanders greenlander greenlanders thais
""".split()

COMMON_WORDS = """
i me my mine myself you your yours yourself we us our ours they them their theirs he him his she her hers it its
this that these those who whom whose which what when where why how all any both each few more most other some such
no nor not only own same so than too very can will just should now is am are was were be been being have has had
having do does did doing a an the and but if or because as until while of at by for with about against between into
through during before after above below to from up down in out on off over under again further then once here there
hi hello hey dear thanks thank please sorry yes yeah ok okay sure well also maybe perhaps still yet even ever never
always often sometimes usually really quite rather almost already soon later today tomorrow yesterday tonight
morning evening night week weekend month year day hour minute time name names address email phone number card
account bank payment order customer support help service manager team office company job work home house city
country street meeting call message letter note contact details information info data file document report form
new old good great best better bad big small little long short first last next previous same different full
dear regards sincerely best cheers kind attached following below above hereby subject re fw fwd cc bcc
mom dad mother father brother sister son daughter wife husband friend friends boss colleague doctor nurse teacher
monday tuesday wednesday thursday friday saturday sunday january february march april june july august
september october november december today birthday christmas easter holiday holidays labor
""".split()
