"""The pt_BR words and formats the Faker-like personal data of dim_users.csv is drawn from.

Phone formats carry a weight: how many of the original 13,000 phone numbers have that format.
"""

from __future__ import annotations

MALE = (
    "João", "Luiz", "Pedro", "Davi", "Vitor", "Gustavo", "Enzo", "Lucas", "Bruno", "Eduardo",
    "Pietro", "Juan", "Renan", "Benjamin", "Leonardo", "Igor", "Breno", "Rafael", "Antônio",
    "Caio", "Emanuel", "Fernando", "Murilo", "Otávio", "Alexandre", "Thales", "Henrique",
    "Gabriel", "Kevin", "Heitor", "Thiago", "Danilo", "Joaquim", "Matheus", "Rodrigo", "Yago",
    "André", "Cauê", "Marcos", "Bryan", "Paulo", "Augusto", "Anthony", "Carlos", "Arthur", "Yuri",
    "Enrico", "Bernardo", "Theo", "Raul", "Thomas", "Miguel", "Ryan", "Kaique", "Benício",
    "Francisco", "Leandro", "Levi", "Daniel", "Vicente", "Samuel", "Isaac", "Lorenzo", "Felipe",
    "Cauã", "Nicolas", "Ian", "Lucca", "Vinicius", "Diego", "Erick", "Luan", "Marcelo",
    "João Pedro", "João Vitor", "João Guilherme", "João Felipe", "João Lucas", "João Miguel",
    "Luiz Felipe", "Luiz Gustavo", "Luiz Henrique", "Luiz Otávio", "Luiz Miguel", "Pedro Henrique",
    "Pedro Lucas", "Pedro Miguel", "Davi Lucas", "Davi Lucca", "Davi Luiz", "Vitor Hugo",
    "Vitor Gabriel", "Carlos Eduardo", "Gustavo Henrique", "Enzo Gabriel", "Paulo Henrique",
    "Marcos Vinicius",
)
FEMALE = (
    "Ana", "Maria", "Melissa", "Lavínia", "Alana", "Amanda", "Cecília", "Nina", "Catarina",
    "Daniela", "Valentina", "Bianca", "Joana", "Beatriz", "Laura", "Bruna", "Gabrielly", "Natália",
    "Rafaela", "Sophia", "Pietra", "Sarah", "Agatha", "Clarice", "Letícia", "Giovanna", "Nicole",
    "Sofia", "Elisa", "Julia", "Evelyn", "Mirella", "Emilly", "Larissa", "Eduarda", "Heloísa",
    "Stephany", "Luiza", "Stella", "Caroline", "Carolina", "Emanuella", "Isis", "Lívia", "Maitê",
    "Manuela", "Camila", "Fernanda", "Kamilly", "Isabel", "Alícia", "Esther", "Luana", "Vitória",
    "Yasmin", "Lorena", "Mariana", "Isabela", "Clara", "Sophie", "Ana Clara", "Ana Luiza",
    "Ana Laura", "Ana Julia", "Ana Beatriz", "Ana Sophia", "Ana Vitória", "Ana Lívia",
    "Maria Clara", "Maria Eduarda", "Maria Luiza", "Maria Cecília", "Maria Alice",
    "Maria Fernanda", "Maria Julia", "Maria Sophia", "Maria Vitória", "Maria Helena",
)
SURNAMES = (
    "Rocha", "Cardoso", "Cunha", "Costa", "Souza", "Ferreira", "Novaes", "Gonçalves", "Rezende",
    "Martins", "Nunes", "Santos", "Monteiro", "Castro", "Porto", "Duarte", "Fogaça", "Ribeiro",
    "Pires", "Alves", "Silveira", "Ramos", "Oliveira", "Cavalcanti", "Teixeira", "Moraes",
    "Carvalho", "Araújo", "Gomes", "Almeida", "Dias", "Rodrigues", "Mendes", "Pinto", "Azevedo",
    "Barbosa", "Jesus", "Farias", "Moreira", "Lima", "Correia", "Sales", "Peixoto", "Silva",
    "Nogueira", "Caldeira", "Melo", "Fernandes", "Moura", "Aragão", "Barros", "Pereira", "Vieira",
    "Freitas", "Lopes", "Campos", "Costela", "Viana", "Nascimento", "da Rocha", "da Cunha",
    "da Costa", "da Paz", "da Luz", "da Conceição", "da Mata", "da Rosa", "das Neves", "da Cruz",
    "da Mota",
)
STREET_TYPES = (
    "Via", "Passarela", "Viaduto", "Jardim", "Quadra", "Sítio", "Largo", "Praça", "Distrito", "Rua",
    "Núcleo", "Favela", "Vereda", "Avenida", "Conjunto", "Recanto", "Esplanada", "Estrada",
    "Aeroporto", "Colônia", "Parque", "Alameda", "Área", "Trecho", "Praia", "Condomínio", "Vale",
    "Campo", "Lagoa", "Setor", "Estação", "Pátio", "Chácara", "Ladeira", "Travessa", "Rodovia",
    "Morro", "Fazenda", "Lago", "Viela", "Residencial", "Trevo", "Feira", "Loteamento", "Vila",
)
NEIGHBOURHOODS = (
    "Vila Satélite", "Sion", "Cônego Pinheiro 1ª Seção", "Castanheira", "Vila Pilar",
    "Camponesa 2ª Seção", "Vila Coqueiral", "Vila Canto Do Sabiá", "Ouro Minas", "Vila Pinho",
    "Leonina", "Jardim Do Vale", "Vila Rica", "Santa Branca", "Esperança", "Vila Betânia",
    "Solimoes", "Antonio Ribeiro De Abreu 1ª Seção", "Vila Inestan", "Vitoria Da Conquista",
    "Conjunto Serra Verde", "Universitário", "Vila Copacabana", "Boa Vista", "Nova Granada",
    "Manacas", "Buritis", "Maria Helena", "Caiçara - Adelaide", "Pantanal", "Unidas",
    "Santa Cruz", "Belvedere", "Xangri-Lá", "Mala E Cuia", "Califórnia", "Sport Club", "Trevo",
    "Buraco Quente", "Piraja", "Maria Virgínia", "Nova Cachoeirinha", "Vila De Sá", "Serra",
    "Alto Das Antenas", "Aguas Claras", "Serrano", "Canadá", "Vila Sesc", "Boa Esperança",
    "Coração De Jesus", "Vila Minaslandia", "Etelvina Carneiro", "Baleia", "Lajedo",
    "Vista Alegre", "Taquaril", "Diamante", "Carlos Prates", "Carmo", "Frei Leopoldo", "Glória",
    "Paraíso", "Acaba Mundo", "Vila Fumec", "Pompéia", "Goiania", "Cenaculo", "Coqueiros",
    "Renascença", "Jardim São José", "Álvaro Camargos", "Vila Novo São Lucas",
)
CITY_SUFFIXES = (
    "", "", "", "", "", " do Sul", " da Serra", " de Minas", " Alegre", " da Prata",
    " dos Dourados", " do Campo", " da Praia", " Verde", " do Amparo", " de Goiás", " da Mata",
    " do Galho", " das Flores", " do Norte", " Grande", " Paulista", " de da Cunha", " de Nunes",
    " de Araújo", " de Carvalho", " de da Mota", " de Santos", " da Mata do Campo",
)
STATES = (
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
)
AREA_CODES = ("11", "21", "31", "41", "51", "61", "71", "81", "84")
# (area prefix template, separator between the digit groups, weight); "{}" = area code.
PHONE_FORMATS = (
    ("{} ", " ", 1606), ("+55 {} ", " ", 1533), ("+55 (0{}) ", " ", 1487),
    ("+55 (0{}) ", "-", 1471), ("(0{}) ", " ", 1469), ("(0{}) ", "-", 1457),
    ("+55 {} ", "-", 1358), ("{} ", "-", 1297),
)
TOLL_FREE = ("0300", "0500", "0800")
TOLL_FREE_FORMATS = (("{}-", "-", 684), ("{} ", " ", 638))
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
